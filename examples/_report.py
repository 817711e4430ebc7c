"""What the experiment scripts share: writing a result table, and pyplot when it is installed."""


def write_table(path, lines):
    """Join markdown table ``lines``, write them to ``path``, print them; return the text."""
    table = "\n".join(lines)
    path.write_text(table + "\n", encoding="utf-8")
    print(table)
    return table


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None (saying so) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: tables written, plots skipped")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
