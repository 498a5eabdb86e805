"""The committed JSON Schema of every event version; `python -m libs.events.schemas` writes them."""
