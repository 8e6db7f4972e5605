"""python -m cgan_augment.cli"""

from .main import main

main(prog_name="cgan-augment")
