"""regreen: the abandoned-mine restoration plan and progress warehouse."""

__version__ = "0.1.0"
