"""The names a setting may take, in a module without torch, so that the settings (and the
command line's --help) can be read without loading the networks."""

__all__ = ["FAMILIES", "LOSSES", "POLICIES", "INTERPOLATIONS"]

FAMILIES = ("mlp", "dcgan", "deform")  # generator families (generators/networks.py builds them)
LOSSES = ("bce", "hinge", "wgan-gp")  # GAN losses (losses.py)
POLICIES = ("translation", "cutout")  # DiffAugment policies (diffaugment.py)
INTERPOLATIONS = ("slerp", "linear")  # latent walks (walks.py)
