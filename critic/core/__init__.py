"""The ground floor: what every other part of critic may import (see critic/__init__.py)."""
