"""What Stylestore's long-running commands share: a progress bar on stderr."""


def unstyled(text):
    """Command stderr is styled as errors by default; progress is not an error."""
    return text


class ProgressBar:
    """A one-line text bar: redrawn in place on a terminal, one line per change otherwise.

    ``labels`` name the two outcomes ``update`` counts (done = their sum)."""

    WIDTH = 30

    def __init__(self, stream, total, labels=("ready", "failed")):
        self.stream = stream
        self.total = total
        self.labels = labels
        self.last = None

    def update(self, ready, failed):
        done = ready + failed
        filled = self.WIDTH * done // self.total if self.total else self.WIDTH
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total} done "
                f"({ready} {self.labels[0]}, {failed} {self.labels[1]})")
        if line == self.last:
            return
        self.last = line
        if self.stream.isatty():
            self.stream.write("\r" + line, style_func=unstyled, ending="")
        else:
            self.stream.write(line, style_func=unstyled)

    def close(self):
        if self.last and self.stream.isatty():
            self.stream.write("")
