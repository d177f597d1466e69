"""``worker.embeddings``: Lightly's CSV instead of a model, and each bad input as one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runner.embedding.from_csv import load_embeddings_csv
from runner.errors import ConfigError

KEYS = ["a.png", "sub/b.jpg", "c.png"]


def _write(folder: Path, lines: list[str], name: str = "emb.csv") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _good(folder: Path) -> Path:
    return _write(
        folder,
        [
            "filenames,embedding_0,embedding_1,embedding_2,labels",
            "c.png,0,0,2,0",
            "a.png,3,4,0,1",
            "sub/b.jpg,1,0,0,0",
            "gone.png,1,1,1,0",
        ],
    )


def _error(folder: Path, lines: list[str], keys: list[str] = KEYS) -> str:
    path = _write(folder, lines)
    with pytest.raises(ConfigError) as info:
        load_embeddings_csv(str(path), lightly_dir=folder, keys=keys, normalize=True)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_rows_are_read_by_key_normalised_and_extra_rows_counted(tmp_path: Path) -> None:
    _good(tmp_path)
    result = load_embeddings_csv("emb.csv", lightly_dir=tmp_path, keys=KEYS, normalize=True)
    assert result.keys == ["a.png", "c.png", "sub/b.jpg"]
    expected = np.array([[0.6, 0.8, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    np.testing.assert_allclose(result.embeddings, expected, rtol=1e-6)
    assert result.model["source"] == "file"
    assert result.model["rows_ignored"] == 1 and result.model["embedding_dim"] == 3
    raw = load_embeddings_csv(
        str(tmp_path / "emb.csv"), lightly_dir=Path("/elsewhere"), keys=KEYS, normalize=False
    )
    assert raw.embeddings[0].tolist() == [3, 4, 0]


def test_masked_and_selected_columns_of_zeros_are_accepted(tmp_path: Path) -> None:
    _write(
        tmp_path,
        ["filenames,embedding_0,masked,selected,labels", "a.png,1,0,0,0", "c.png,2,0,0,0"],
    )
    result = load_embeddings_csv("emb.csv", lightly_dir=tmp_path, keys=["a.png"], normalize=False)
    assert result.embeddings.tolist() == [[1.0]]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["filename,embedding_0,labels", "a.png,1,0"], "header must be"),
        (["filenames,embedding_0,embedding_2,labels", "a.png,1,2,0"], "'embedding_2'"),
        (["filenames,embedding_0,embedding_1"], "header must be"),
        (["filenames,embedding_0,labels", "a.png,1,0", "a.png,2,0"], "'a.png' appears twice"),
        (["filenames,embedding_0,embedding_1,labels", "a.png,1,0"], "same dimension"),
        (["filenames,embedding_0,labels", "a.png,x,0"], "line 2 ('a.png')"),
        (["filenames,embedding_0,masked,labels", "a.png,1,1,0"], "masked/selected"),
    ],
)
def test_bad_files_are_one_line(tmp_path: Path, lines: list[str], message: str) -> None:
    assert message in _error(tmp_path, lines, keys=["a.png"])


def test_a_missing_row_names_the_candidates(tmp_path: Path) -> None:
    message = _error(tmp_path, ["filenames,embedding_0,labels", "a.png,1,0"])
    assert "no row for 2 of 3 candidates" in message and "'sub/b.jpg'" in message


def test_nan_and_inf_rows_are_refused_by_name(tmp_path: Path) -> None:
    lines = ["filenames,embedding_0,labels", "a.png,nan,0", "c.png,inf,0", "sub/b.jpg,1,0"]
    message = _error(tmp_path, lines)
    assert "NaN or infinite" in message and "'a.png', 'c.png'" in message


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"worker\.embeddings=nope\.csv: no such file"):
        load_embeddings_csv("nope.csv", lightly_dir=tmp_path, keys=KEYS, normalize=True)
