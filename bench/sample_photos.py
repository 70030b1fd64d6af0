"""Write scikit-image's sample photos (a cat, a cup of coffee) as files `zoo predict` can read.

    python bench/sample_photos.py FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from skimage import data


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.jpg")
    print(f"wrote {folder / 'chelsea.png'} and {folder / 'coffee.jpg'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
