#!/usr/bin/env python
"""The django-oscar example shop with Stylestore (see README.md here)."""
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Stylestore from this checkout when it is not installed as a package.
    sys.path.append(str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oscar_shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
