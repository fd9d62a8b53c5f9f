"""``model.summary()`` prints Keras 3's table (summary.py): the layout, the counts and
sizes, the optimizer's state, unbuilt models, and the arguments.  The expected texts
were printed by Keras 3.15.1 for the same models (the parity tests in
test_keras_parity.py compare the two directly where Keras is installed)."""
import numpy as np
import pytest

from densefit import Input, Sequential
from densefit.layers import BatchNormalization, Dense, Dropout, Normalization, PReLU
from densefit.summary import format_bytes

MODEL_A_AT_80 = """\
Model: "model_a"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ d1 (Dense)                      │ (None, 25)             │        19,625 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ d2 (Dense)                      │ (None, 15)             │           390 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ d3 (Dense)                      │ (None, 10)             │           160 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 20,175 (78.81 KB)
 Trainable params: 20,175 (78.81 KB)
 Non-trainable params: 0 (0.00 B)
"""


@pytest.fixture(autouse=True)
def columns(monkeypatch):
    """An 80-column terminal: the default line is then 76 (Keras: columns - 4)."""
    monkeypatch.setenv("COLUMNS", "80")


def model_a():
    return Sequential([Input((784,)), Dense(25, activation="relu", name="d1"),
                       Dense(15, activation="relu", name="d2"),
                       Dense(10, activation="softmax", name="d3")], name="model_a")


def mixed():
    return Sequential([Input((8,)), Normalization(name="norm"), Dense(16, name="dense"),
                       BatchNormalization(name="bn"), PReLU(name="prelu"),
                       Dropout(0.5, name="drop"), Dense(1, name="out")], name="mix")


def text(model, **kwargs):
    calls = []
    model.summary(print_fn=calls.append, **kwargs)
    assert len(calls) == 1  # Keras hands print_fn the whole text at once
    return calls[0]


def test_model_a_exactly_as_keras_at_80_columns():
    assert text(model_a()) == MODEL_A_AT_80


def test_default_print_writes_the_same_text_to_stdout(capsys):
    model_a().summary()
    assert capsys.readouterr().out == MODEL_A_AT_80


def test_line_length_is_88_at_most_and_terminal_minus_4(monkeypatch):
    assert {len(line) for line in text(model_a()).splitlines()[1:10]} == {76}
    monkeypatch.setenv("COLUMNS", "200")
    assert {len(line) for line in text(model_a()).splitlines()[1:10]} == {88}
    assert {len(line) for line in text(model_a(), line_length=50).splitlines()[1:10]} == {50}


def test_columns_shrink_as_rich_shrinks_them():
    # 76 split at 0.45/0.80: 34, 26, 16 (+2 padding each) less 10 for the walls
    header = text(model_a()).splitlines()[2]
    assert [len(cell) for cell in header.split("┃")[1:-1]] == [33, 24, 15]


def test_non_trainable_and_int64_count_bytes():
    out = text(mixed())
    # Normalization: mean, variance (8 each, float32) and count (int64, 8 bytes);
    # BatchNormalization's moving mean and variance (16 each, float32)
    assert " Trainable params: 209 (836.00 B)\n" in out
    assert " Non-trainable params: 49 (200.00 B)\n" in out
    assert " Total params: 258 (1.01 KB)\n" in out
    assert "Optimizer params" not in out


def test_optimizer_params_after_fit_counted_in_total():
    model = mixed()
    model.compile(optimizer="adam", loss="mse")
    assert "Optimizer params" not in text(model)  # Keras builds it at the first step
    model.fit(np.zeros((4, 8), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    out = text(model)
    # Adam: m and v per trainable weight, iterations (int64) and learning_rate (float32)
    assert " Optimizer params: 420 (1.64 KB)\n" in out
    assert " Total params: 678 (2.66 KB)\n" in out


def test_unbuilt_model_shows_question_marks():
    model = Sequential([Dense(4, name="dense"), Dropout(0.1, name="drop"),
                        Dense(2, name="a_very_long_layer_name_that_goes_on_and_on_forever")])
    rows = text(model).splitlines()
    assert rows[4] == "│ dense (Dense)                   │ ?                      │   0 (unbuilt) │"
    assert rows[6] == "│ drop (Dropout)                  │ ?                      │             0 │"
    # a name too long for its cell: cut with "…", the class wrapped to the next line
    assert rows[8] == "│ a_very_long_layer_name_that_go… │ ?                      │   0 (unbuilt) │"
    assert rows[9] == "│ (Dense)                         │                        │               │"
    assert " Total params: 0 (0.00 B)\n" in text(model)


def test_show_trainable_marks_frozen_and_weightless_layers():
    model = mixed()
    model.get_layer("dense").trainable = False
    out = text(model, show_trainable=True)
    assert "┃ Trai… ┃" in out.splitlines()[2]  # rich's cut of the header in 5 columns
    marks = {line.split("│")[1].split()[0]: line.split("│")[4].strip()
             for line in out.splitlines() if line.startswith("│ ") and "(" in line}
    assert marks == {"norm": "Y", "dense": "N", "bn": "Y", "prelu": "Y", "drop": "-",
                     "out": "Y"}


def test_layer_range_picks_rows_by_regex():
    out = text(model_a(), layer_range=["d2", "d3"])
    assert "d1 (Dense)" not in out and "d2 (Dense)" in out and "d3 (Dense)" in out
    assert " Total params: 20,175" in out  # the counts stay the whole model's
    with pytest.raises(ValueError, match="length 2"):
        text(model_a(), layer_range=["d1"])
    with pytest.raises(ValueError, match="string type only"):
        text(model_a(), layer_range=["d1", 3])
    with pytest.raises(ValueError, match="do not match"):
        text(model_a(), layer_range=["x", "y"])


def test_too_narrow_a_line_is_refused():
    with pytest.raises(ValueError, match="Insufficient console width"):
        text(model_a(), line_length=8)


def test_wider_than_the_terminal_is_cropped_as_rich_crops():
    assert max(len(line) for line in text(model_a(), line_length=120).splitlines()) == 80


def test_sizes_in_keras_units():
    assert [format_bytes(n) for n in (0, 1023, 1024, 80_700, 3 * 2**20)] == \
        ["0.00 B", "1023.00 B", "1.00 KB", "78.81 KB", "3.00 MB"]
