"""Write one ``## `` section of ``docs/benchmarks.md``, leaving every other section as it is.

Each benchmark script owns one section (its first line is the heading) and replaces it in
place, or appends it when the file does not have it yet.
"""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(section: str, doc: Path = DOC) -> None:
    """Replace the section whose heading is ``section``'s first line, or append it."""
    title = section.splitlines()[0]
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    start = text.find(title + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(title))
        text = (
            text[:start]
            + section.rstrip("\n")
            + "\n"
            + ("" if following == -1 else text[following:])
        )
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text.rstrip("\n") + "\n")


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (empty elsewhere), for a section's machine line."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
