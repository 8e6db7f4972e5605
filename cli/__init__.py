"""The cgan-augment command line (installed as cgan_augment.cli)."""
