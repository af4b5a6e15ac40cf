"""`critic chat`: a Textual conversation about one painting (app in `critic.tui.app`).

Importing this package imports nothing from Textual; `transcript` and `conversation` are
plain code the app builds on.
"""
