"""What the experiment scripts share: their output folder, result tables and figures."""
import pathlib

from rnn.cli import limit_blas_threads


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


def prepare_output(folder):
    """Create the output folder (returned as a Path) and run BLAS on one thread.

    The experiments' matrices are small: extra BLAS threads only fight over the (shared) cores.
    """
    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    limit_blas_threads(1)
    return out


def save_figure(fig, path):
    """Lay out, save at 120 dpi and close a matplotlib figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt
    plt.close(fig)
