"""What Keras' small configurable objects (initializers, regularizers) share:
made again from ``get_config()``, equal when their configs are, shown by it."""


class ConfigObject:
    """A mix-in for a class whose ``get_config()`` holds its constructor's arguments."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
