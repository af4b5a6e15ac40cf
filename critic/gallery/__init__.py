"""A folder of paintings at a glance: what `critic gallery` shows, without Textual.

`catalog` finds the pictures and gives each its thumbnail and measured facts, cached on
disk by the file's sha256; `order` sorts and filters them by those facts; `results` reads
every critic results file in the folder, the newest answer per painting and model winning;
`batch` runs the analyses `critic analyze --out` runs, into the same JSON lines. The screen
is `critic.tui.gallery`.
"""
