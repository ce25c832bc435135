"""Code that runs inside the Rasa server: its own venv and pins (Rasa 3.6), loaded by name from endpoints.yml.
Nothing here imports the project's other packages, and nothing there imports this."""
