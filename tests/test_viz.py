"""viz without Graphviz's binary: traces, DOT structure, colours, views, budget, cuts, masks."""
import re
import warnings

import numpy as np
import pytest

import microtensor as mt
import viz
from viz import colors
from viz.demo import unrolled
from viz.dot import GraphTooLargeWarning, NodeBudgetError
from viz.trace import magnitude, parse_scope, short, trace
from viz.views import hidden_states


def hand_rnn(steps=3, hidden=3, seed=0, scale=0.5):
    """A vanilla RNN unrolled from engine ops inside one scope per step (no rnn package)."""
    mt.manual_seed(seed)
    W_ih = mt.randn(2, hidden, dtype="float64", requires_grad=True, name="W_ih")
    W_hh = mt.tensor(mt.randn(hidden, hidden, dtype="float64").data * scale, requires_grad=True,
                     name="W_hh")
    h = mt.zeros(1, hidden, dtype="float64", name="h0")
    xs = mt.randn(steps, 1, 2, dtype="float64", name="x")
    for t in range(steps):
        with mt.scope(f"rnn/l0/t{t}"):
            h = (xs[t] @ W_ih + h @ W_hh).tanh()
            h.name = "h"
    loss = (h * 2.0).sum()
    loss.backward(keep_grads=True)
    return loss, (W_ih, W_hh)


def node_attrs(source, name):
    """The attribute text of node ``name`` in DOT ``source``."""
    match = re.search(rf"^\s*{re.escape(name)} \[(.*)\]$", source, re.M)
    assert match, f"node {name} not in DOT source"
    return match.group(1)


def fill_of(source, name):
    return re.search(r'fillcolor="(#[0-9a-f]{6})"', node_attrs(source, name)).group(1)


# ----- helpers ---------------------------------------------------------------------------------
def test_magnitude_matches_numpy_and_survives_underflow():
    g = np.array([[3.0, -4.0], [0.0, 12.0]])
    assert magnitude(g) == pytest.approx(13.0)
    assert magnitude(g, "maxabs") == 12.0
    tiny = np.array([3e-200, 4e-200])
    assert magnitude(tiny) == pytest.approx(5e-200)   # squaring would give 0
    with pytest.raises(ValueError, match="norm must be one of"):
        magnitude(g, "l1")


def test_short_scientific_notation():
    assert [short(v) for v in (1.0, 0.000123, -56789.0, 0.0)] == ["1.0e+0", "1.2e-4", "-5.7e+4", "0"]
    assert short(float("inf")) == "Inf" and short(None) == "-"


def test_parse_scope_finds_step_family():
    assert parse_scope("lstm/l1/reverse/t12") == (("lstm/l1/reverse", 12), "lstm/l1/reverse/t12")
    assert parse_scope("") == (None, None)
    assert parse_scope("net/t3x") == (None, None)


def test_colour_scale_is_monotone_in_lightness():
    scale = colors.ColorScale(1e-6, 3.0)
    values = np.logspace(-6, 0.4, 30)
    lum = [colors.luminance(scale.color(v)) for v in values]
    assert all(b > a for a, b in zip(lum, lum[1:]))
    assert (scale.low, scale.high) == (1e-6, 10.0)
    with pytest.raises(ValueError):
        colors.ColorScale(0.0, 1.0)


# ----- trace -----------------------------------------------------------------------------------
def test_trace_kinds_statuses_and_gradients():
    w = mt.tensor([1.0, -2.0], requires_grad=True, name="w")
    x = mt.tensor([3.0, 4.0], name="x")
    unused_branch = mt.tensor([5.0], requires_grad=True, name="zeroed")
    y = (w * x * 2.0).sum() + (unused_branch * 0.0).sum()
    y.backward(keep_grads=True)
    tr = trace(y)
    kinds = {n.name: n.kind for n in tr.by_id.values() if n.name}
    assert kinds == {"w": "param", "x": "input", "zeroed": "param"}
    consts = [n for n in tr.by_id.values() if n.kind == "const"]
    assert sorted(n.const_value for n in consts) == [0.0, 2.0]
    assert all(c.id not in {i for e in tr.edges for i in e} for c in consts)
    by_name = {n.name: n for n in tr.nodes if n.name}
    assert by_name["w"].grad_magnitude == pytest.approx(np.hypot(6.0, 8.0))
    assert by_name["zeroed"].status == "zero" and by_name["x"].status == "nograd"
    assert tr.by_id[tr.roots[0]].kind == "root"


def test_trace_marks_nan_gradients_bad_and_draw_fills_them_red():
    w = mt.tensor([1.0, 2.0], requires_grad=True, name="w")
    loss = (w * mt.tensor([np.inf, 1.0])).sum()
    loss.backward(keep_grads=True)
    tr = trace(loss)
    assert tr.by_id[0].status == "bad"
    assert fill_of(viz.draw(loss).source, "n0") == colors.BAD_FILL


def test_trace_without_kept_gradients_is_nograd_everywhere():
    w = mt.tensor([1.0], requires_grad=True, name="w")
    y = (w * 3.0).tanh()
    tr = trace(y)
    assert {n.status for n in tr.nodes} == {"nograd"}
    assert "∇ none" in viz.draw(y).source


def test_trace_rejects_bad_input():
    with pytest.raises(TypeError, match="Tensor"):
        trace([1.0])
    with pytest.raises(ValueError, match="norm"):
        trace(mt.ones(1), norm="fro")


# ----- ops view --------------------------------------------------------------------------------
def test_every_op_node_label_carries_its_gradient_magnitude():
    loss, _ = hand_rnn()
    g = viz.draw(loss)
    tr = g.microtensor_trace
    for n in tr.nodes:
        if n.kind in ("op", "root"):
            label = re.search(r'label="([^"]*)"', node_attrs(g.source, f"n{n.id}")).group(1)
            assert f"∇ {short(magnitude(n.tensor.grad))}" in label


def test_maxabs_norm_changes_label_and_legend():
    loss, (W_ih, _) = hand_rnn()
    g = viz.draw(loss, norm="maxabs")
    w_id = next(n.id for n in g.microtensor_trace.nodes if n.name == "W_ih")
    assert f"∇ {short(np.abs(W_ih.grad).max())}" in node_attrs(g.source, f"n{w_id}")
    assert "max |entry|" in g.source


def test_show_value_and_shape_options():
    loss, _ = hand_rnn()
    src = viz.draw(loss, show=("value",)).source
    assert "val " in src and "∇" not in re.sub(r"tooltip=\"[^\"]*\"|label=<.*>", "", src)
    with pytest.raises(ValueError, match="show entries"):
        viz.draw(loss, show=("colour",))


def test_fill_colours_are_ordered_like_gradient_magnitudes():
    loss, _ = hand_rnn(steps=6, scale=0.3)
    g = viz.draw(loss)
    pairs = sorted((n.grad_magnitude, colors.luminance(fill_of(g.source, f"n{n.id}")))
                   for n in g.microtensor_trace.nodes if n.status == "ok")
    assert len(pairs) > 20
    assert pairs[0][0] < pairs[-1][0] / 10            # the picture spans a real range
    for (m1, l1), (m2, l2) in zip(pairs, pairs[1:]):
        assert l2 >= l1 - 2e-3, (m1, m2)     # up to rounding colours to 8-bit channels
    assert pairs[-1][1] - pairs[0][1] > 0.1


def test_steps_are_columns_headed_in_time_order():
    loss, _ = hand_rnn(steps=12)
    g = viz.draw(loss)
    src, grid = g.source, g.microtensor_grid
    headers = re.findall(r'^\s*step_rnn_l0_t(\d+) \[label="t = (\d+)"', src, re.M)
    assert [int(t) for t, _ in headers] == list(range(12))        # t2 before t10
    assert all(t == label for t, label in headers)
    # One rank per level, holding that level of every step in time order, the walls between
    # the columns in order too.
    chains = [[x.strip().strip('"') for x in c.split(";")]
              for c in re.findall(r"\{rank=same; ([^}]*)\}", src)]
    assert chains
    for names in chains:
        columns = [grid[x][1] for x in names if x in grid]
        assert columns == sorted(columns), names
        walls = [int(re.match(r"wall(\d+)_", x).group(1)) for x in names if x.startswith("wall")]
        assert walls == list(range(1, 12)), names
    assert sum(1 for names in chains if len({grid[x][1] for x in names if x in grid}) == 12) >= 3


def test_parameters_inputs_and_loss_have_distinct_shapes():
    loss, _ = hand_rnn()
    g = viz.draw(loss)
    tr = g.microtensor_trace
    shape = {n.kind: re.search(r"shape=(\w+)", node_attrs(g.source, f"n{n.id}")).group(1)
             for n in tr.nodes}
    style = {n.kind: re.search(r'style="?([\w,]+)', node_attrs(g.source, f"n{n.id}")).group(1)
             for n in tr.nodes}
    assert shape["root"] == "doubleoctagon" and shape["input"] == "note"
    assert "bold" in style["param"] and "rounded" in style["op"]


def test_same_program_gives_byte_identical_dot():
    first = viz.draw(hand_rnn()[0]).source
    garbage = [mt.ones(3) for _ in range(7)]          # shifts id() and the global creation counter
    second = viz.draw(hand_rnn()[0]).source
    assert first == second and garbage


def test_params_module_names_unnamed_parameters():
    loss, model = unrolled("rnn", steps=2, hidden=2)
    src = viz.draw(loss, params=model).source
    assert "weight_hh_l0" in src and "bias_ih_l0" in src
    assert "weight_hh_l0" not in viz.draw(loss).source


def test_bad_arguments_raise_clear_errors():
    loss, _ = hand_rnn()
    for kwargs, word in [({"view": "unrolled"}, "view"), ({"rankdir": "XY"}, "rankdir"),
                         ({"fallback": "skip"}, "fallback"), ({"norm": "l3"}, "norm")]:
        with pytest.raises(ValueError, match=word):
            viz.draw(loss, **kwargs)


def test_zero_gradient_and_no_gradient_fills_are_distinct():
    w = mt.tensor([1.0], requires_grad=True, name="w")
    dead = mt.tensor([2.0], requires_grad=True, name="dead")
    loss = (w * 3.0).sum() + (dead * 0.0).sum()
    loss.backward(keep_grads=True)
    g = viz.draw(loss)
    ids = {n.name: n.id for n in g.microtensor_trace.nodes if n.name}
    assert fill_of(g.source, f"n{ids['dead']}") == colors.ZERO_GRAD_FILL
    x = mt.tensor([1.0], name="x")
    loss2 = (w * x).sum()
    loss2.backward(keep_grads=True)
    g2 = viz.draw(loss2)
    xid = next(n.id for n in g2.microtensor_trace.nodes if n.name == "x")
    assert fill_of(g2.source, f"n{xid}") == colors.NO_GRAD_FILL != colors.ZERO_GRAD_FILL


# ----- detach cuts -----------------------------------------------------------------------------
def tbptt_two_chunks():
    W = mt.tensor([[0.9]], dtype="float64", requires_grad=True, name="W")
    h = mt.ones(1, 1, dtype="float64", name="h0")
    losses = []
    for chunk in range(2):
        if chunk:
            h = h.detach()
        for t in range(chunk * 2, chunk * 2 + 2):
            with mt.scope(f"rnn/l0/t{t}"):
                h = (h @ W).tanh()
                h.name = "h"
        losses.append((h * 1.0).sum())
    return losses


def test_detach_with_source_outside_graph_draws_dashed_stub():
    loss1, loss2 = tbptt_two_chunks()
    loss2.backward(keep_grads=True)
    src = viz.draw(loss2).source
    assert re.search(r'cut0 \[label="✂ detach\(\) of h in rnn/l0/t1 \(outside this graph\)"', src)
    assert re.search(r"cut0 -> n\d+ \[.*style=dashed", src)
    for view in ("cells", "rolled"):
        assert "cut0 -> " in viz.draw(loss2, view=view).source


def test_detach_with_source_in_graph_draws_dashed_edge_from_it():
    loss1, loss2 = tbptt_two_chunks()
    g = viz.draw([loss1, loss2])
    cuts = g.microtensor_trace.cuts
    assert len(cuts) == 1 and cuts[0][0] is not None
    src_id, dst_id, _ = cuts[0]
    assert g.microtensor_trace.by_id[src_id].name == "h"
    assert re.search(rf"n{src_id} -> n{dst_id} \[.*style=dashed", g.source)
    assert "cut0" not in g.source


def test_detach_of_a_freed_tensor_says_so():
    W = mt.tensor([[0.5]], requires_grad=True, name="W")
    start = (mt.ones(1, 1) @ W).detach()
    loss = (start @ W).sum()
    loss.backward(keep_grads=True)
    assert "no longer exists" in viz.draw(loss).source


# ----- masked steps ----------------------------------------------------------------------------
def test_masked_steps_are_greyed_in_ops_and_cells_views():
    loss, model = unrolled("lstm", steps=4, hidden=2, batch=1, lengths=[2], loss="all")
    src = viz.draw(loss, params=model).source
    masked = re.findall(r'step_lstm_l0_t(\d) \[label="t = \d · padding"[^]]*'
                        r'fillcolor="(#[0-9a-f]+)"', src)
    assert sorted(int(t) for t, _ in masked) == [2, 3]
    assert {c for _, c in masked} == {colors.MASKED_FILL}
    cells = viz.draw(loss, view="cells").source
    assert cells.count("\\nmasked (padding)") == 2


# ----- cells / rolled views --------------------------------------------------------------------
def test_cells_view_one_box_per_cell_and_step_coloured_by_hidden_grad():
    loss, model = unrolled("gru", steps=3, hidden=2, layers=2, bidirectional=True, loss="all")
    g = viz.draw(loss, view="cells")
    boxes = re.findall(r"^\s*(c_\w+) \[", g.source, re.M)
    assert len(boxes) == 2 * 2 * 3
    tr = g.microtensor_trace
    h = next(n for n in tr.nodes if n.name == "h" and n.step == ("gru/l1/reverse", 0))
    last_h = max((n for n in tr.nodes if n.name == "h" and n.cell == "gru/l1/reverse/t0"),
                 key=lambda n: n.id)
    assert h.cell == last_h.cell
    assert f"∇h {short(last_h.grad_magnitude)}" in node_attrs(g.source, "c_gru_l1_reverse_t0")
    assert len(re.findall(r"^\s*step_t\d \[", g.source, re.M)) == 3


def test_cells_view_links_layers_at_the_same_step_only():
    loss, _ = unrolled("rnn", steps=3, hidden=2, layers=2, loss="all")
    src = viz.draw(loss, view="cells").source
    for t in range(3):    # up the column: drawn downwards, arrow reversed (the column's order)
        assert f"c_rnn_l1_t{t} -> c_rnn_l0_t{t} [dir=back]" in src
    assert "c_rnn_l0_t0 -> c_rnn_l1_t2" not in src and "c_rnn_l1_t2 -> c_rnn_l0_t0" not in src
    assert "c_rnn_l0_t0 -> c_rnn_l0_t1" in src


def test_rolled_view_draws_each_family_once_with_loop_and_strip():
    loss, _ = unrolled("lstm", steps=5, hidden=2, bidirectional=True)
    src = viz.draw(loss, view="rolled").source
    families = re.findall(r"^\s*(f_\w+) \[", src, re.M)
    assert families == ["f_lstm_l0", "f_lstm_l0_reverse"]
    for f in families:
        assert re.search(rf'{f} -> {f} \[.*label="T = 5"', src)
    strip = re.search(r"f_lstm_l0 \[label=<(.*?)> ", src).group(1)
    assert strip.count("BGCOLOR=") == 5


def test_cells_and_rolled_need_time_step_scopes():
    w = mt.tensor([1.0], requires_grad=True)
    loss = (w * 2.0).sum()
    loss.backward(keep_grads=True)
    with pytest.raises(ValueError, match="time-step scopes"):
        viz.draw(loss, view="cells")


# ----- node budget -----------------------------------------------------------------------------
def test_budget_falls_back_to_cells_then_rolled_with_message():
    loss, _ = hand_rnn(steps=10)
    with pytest.warns(GraphTooLargeWarning, match="max_nodes=30.*view='cells'"):
        g = viz.draw(loss, max_nodes=30)
    assert g.microtensor_view == "cells" and "max_nodes=30" in g.source
    with pytest.warns(GraphTooLargeWarning, match="view='rolled'"):
        assert viz.draw(loss, max_nodes=5).microtensor_view == "rolled"
    with pytest.raises(NodeBudgetError, match="max_nodes=30"):
        viz.draw(loss, max_nodes=30, fallback="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert viz.draw(loss, max_nodes=None).microtensor_view == "ops"


def test_budget_without_steps_refuses():
    x = mt.ones(3, requires_grad=True)
    for _ in range(20):
        x = x * 1.5
    loss = x.sum()
    loss.backward(keep_grads=True)
    with pytest.raises(NodeBudgetError, match="no time-step scopes"):
        viz.draw(loss, max_nodes=10)


def test_two_thousand_step_unroll_falls_back_and_draws_small():
    loss, _ = unrolled("rnn", steps=2000, hidden=2, input_size=1)
    with pytest.warns(GraphTooLargeWarning, match="view='ops' would draw"):
        g = viz.draw(loss)
    assert g.microtensor_view == "rolled" and len(g.source) < 20000
    strip = re.search(r"f_rnn_l0 \[label=<(.*?)> ", g.source).group(1)
    assert strip.count("BGCOLOR=") == 59 and "(34 steps per square)" in strip   # ceil(2000 / 34)
    cells = viz.draw(loss, view="cells", max_nodes=None)
    assert len(re.findall(r"^\s*c_rnn_l0_t\d+ \[", cells.source, re.M)) == 2000
    assert "other steps" in cells.source               # the stacked fan-in is collapsed


def test_drawing_after_a_plain_backward_warns_how_to_keep_the_graph():
    w = mt.tensor([1.0], requires_grad=True, name="w")
    loss = (w * 2.0).tanh().sum()
    loss.backward()
    with pytest.warns(viz.FreedGraphWarning, match="keep_grads=True"):
        g = viz.draw(loss)
    assert len(g.microtensor_trace.nodes) == 1
    kept = (w * 2.0).tanh().sum()
    kept.backward(keep_grads=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(viz.draw(kept).microtensor_trace.nodes) == 4


def test_partially_masked_steps_are_labelled_from_a_mask_marker():
    W = mt.tensor([[0.5]], dtype="float64", requires_grad=True, name="W")
    h = mt.ones(2, 1, dtype="float64", name="h0")
    lengths = np.array([3, 1])
    for t in range(3):
        with mt.scope(f"rnn/l0/t{t}"):
            new = (h @ W).tanh()
            new.name = "h"
            keep = mt.tensor((t < lengths)[:, None], name="mask")          # (B, 1)
            h = mt.where(keep, new, h)
    loss = h.sum()
    loss.backward(keep_grads=True)
    src = viz.draw(loss).source
    assert 'label="t = 1 · 1 of 2 sequences masked"' in src
    assert 'label="t = 2 · 1 of 2 sequences masked"' in src and 'label="t = 0"' in src
    cells = viz.draw(loss, view="cells").source
    assert cells.count("1 of 2 sequences masked") == 2


# ----- per-step stand-ins and honest marks ------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_steps_share_of_a_weight_gradient_sums_to_the_total(cell):
    from viz.layout import shared_inputs
    from viz.ops_view import stand_ins
    loss, model = unrolled(cell, steps=4, hidden=3, loss="all")
    tr = viz.trace(loss, params=model)
    shares = stand_ins(tr)
    shared = [tr.by_id[i] for i in shared_inputs(tr) if tr.by_id[i].record.requires_grad]
    assert "weight_hh_l0" in {n.name for n in shared}    # used by every step's h_proj = linear
    checked = 0
    for node in shared:
        parts = [s.grad for (i, _), s in shares.items() if i == node.id]
        if not parts:
            continue       # used through per-step slices (x_proj[t]): the slices are drawn
        assert len(parts) == 4 and all(part is not None for part in parts), node.name
        np.testing.assert_allclose(sum(parts), node.tensor.grad, rtol=1e-12, atol=1e-14)
        # ... and each share is that step's own: the steps' shares differ.
        assert len({round(float(np.abs(p).sum()), 12) for p in parts}) > 1
        checked += 1
    assert checked >= 1


def test_no_masked_mark_without_lengths_even_where_the_gradient_is_zero():
    loss, model = unrolled("lstm", steps=4, hidden=2, bidirectional=True, loss="last")
    tr = viz.trace(loss, params=model)
    states = hidden_states(tr, "h")
    assert any(n.status == "zero" for n in states.values())      # the reverse direction's early steps
    for view in ("ops", "cells"):
        assert "masked" not in viz.draw(loss, view=view, params=model).source


def test_colour_scale_spans_a_narrow_range_and_equal_values_share_a_colour():
    narrow = colors.ColorScale(1.0, 1.1)
    assert narrow.position(1.0) == 0 and narrow.position(1.1) == 1       # the whole bar is used
    assert colors.luminance(narrow.color(1.1)) - colors.luminance(narrow.color(1.0)) > 0.5
    assert narrow.ticks(3) == [1.0, 1.05, 1.1]
    wide = colors.ColorScale(1e-40, 10.0)
    assert wide.position(1e-40) == 0 and wide.position(10.0) == 1 and len(wide.ticks(13)) <= 14
    assert colors.ColorScale(2.0, 2.0).color(2.0) == colors.interpolate(0.5)
    # In a drawing: hidden-state gradients of 1.1 and a loss gradient of 1.0 get different fills,
    # equal magnitudes equal ones, and the legend's ticks span the range.
    loss, model = unrolled("lstm", steps=6, hidden=3, lengths=[4], loss="all")
    g = viz.draw(loss, view="cells")
    tr = g.microtensor_trace
    fills = {}
    for (family, t), node in hidden_states(tr, "h").items():
        if node.status == "ok":
            fills.setdefault(short(node.grad_magnitude), set()).add(fill_of(g.source, f"c_lstm_l0_t{t}"))
    assert all(len(f) == 1 for f in fills.values())
    root = tr.by_id[tr.roots[0]]
    assert short(root.grad_magnitude) not in fills          # the loss's 1.0 against the 1.1s
    assert fill_of(g.source, f"n{root.id}") not in {f for fs in fills.values() for f in fs}


def test_one_line_style_means_one_thing_and_the_legend_explains_only_what_is_drawn():
    loss, model = unrolled("lstm", steps=6, hidden=3, lengths=[4], loss="all")
    for view in ("ops", "cells"):
        src = viz.draw(loss, view=view, params=model).source
        assert "dashed" not in src                     # no detach(): no dashed line or box
        assert "detach" not in src and "NaN or Inf" not in src
    cells = viz.draw(loss, view="cells").source
    assert "masked: padding under lengths" in cells
    h = mt.tensor([[0.5]], requires_grad=True)
    with mt.scope("rnn/l0/t0"):
        h = h.tanh()
    h = h.detach()
    with mt.scope("rnn/l0/t1"):
        h = (h * mt.tensor([[2.0]], requires_grad=True)).tanh()
    cut = h.sum()
    cut.backward(keep_grads=True)
    src = viz.draw(cut).source
    assert "dashed" in src and "dashed = cut by detach()" in src


def test_drawing_before_backward_warns_what_to_call():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * 3.0).sum()
    with pytest.warns(viz.NoGradientWarning, match=r"backward\(keep_grads=True\)"):
        viz.draw(loss)
    loss.backward(keep_grads=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        viz.draw(loss)


def test_a_linear_layer_used_at_every_step_gets_its_share_per_step():
    # mt.nn.Linear is one op ("linear"): its per-step stand-ins still carry the step's own part
    # of dL/dW and dL/db.
    from viz.ops_view import stand_ins
    mt.manual_seed(0)
    layer = mt.nn.Linear(3, 3)
    h, xs = mt.zeros(1, 3), mt.randn(4, 1, 3)
    with mt.scope("net"):
        for t in range(4):
            with mt.scope(f"t{t}"):
                h = layer(xs[t] + h).tanh()
    loss = h.sum()
    loss.backward(keep_grads=True)
    tr = viz.trace(loss, params=layer)
    assert {r.op for r in mt.graph.walk(loss)} >= {"linear"}
    shares = stand_ins(tr)
    for name, param in (("weight", layer.weight), ("bias", layer.bias)):
        parts = [s.grad for (i, _), s in shares.items() if tr.by_id[i].name == name]
        assert len(parts) == 4 and all(p is not None for p in parts), name
        np.testing.assert_allclose(sum(parts), param.grad, rtol=1e-5, atol=1e-7)
