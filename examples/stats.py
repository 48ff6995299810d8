"""An example fxmesh function: summary statistics of a list of numbers."""
import statistics


def _spread(values):
    return max(values) - min(values)


def summarize(values, digits=3):
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), digits),
        "stdev": round(statistics.stdev(values), digits) if len(values) > 1 else 0.0,
        "range": _spread(values),
    }
