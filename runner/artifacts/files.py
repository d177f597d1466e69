"""The names of the files in a run folder (light: no heavy imports, for the Python client)."""

FILES = {
    "selected_filenames": "selected_filenames.txt",
    "embeddings": "embeddings.csv",
    "corruptness_check_information": "corruptness_check_information.json",
    "duplicates": "duplicates.json",
    "config": "config.yaml",
    "log": "log.txt",
    "report_json": "report.json",
    "report_html": "report.html",
    "report_pdf": "report.pdf",
    "projection": "projection.npz",
}
