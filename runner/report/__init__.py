"""The run report: ``report.json`` rendered to HTML and PDF."""
