from .a import (b as c,
  d)
import x.y as z; __import__(f"{q}")
s = r"""\"""
