"""ssgan: semi-supervised classification with GAN discriminators.

The method is that of Salimans et al. 2016, "Improved Techniques for Training GANs":
a discriminator with K class logits and an implicit (K+1)-th "fake" class, trained on a
few labeled examples, many unlabeled ones and a generator's samples.
"""

__version__ = "0.1.0"

from ssgan.errors import SSGANError  # noqa: E402

__all__ = ["SSGANClassifier", "SSGANError", "__version__", "load_run"]


def __getattr__(name: str):
    # Imported lazily so that `ssgan --help` does not pay for torch and scikit-learn.
    if name == "SSGANClassifier":
        from ssgan.estimator import SSGANClassifier

        return SSGANClassifier
    if name == "load_run":
        from ssgan.runs import load_run

        return load_run
    raise AttributeError(f"module 'ssgan' has no attribute {name!r}")
