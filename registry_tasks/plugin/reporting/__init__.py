"""Where the figures go: the Registry tab, the HTML report, the CSV files, the terminal table, charts over time,
gates and the summary file, `--record`, and secret options kept out of the web UI's page.

Uses run/ and open_model/ (the open model's figures are reported beside the table).
"""
