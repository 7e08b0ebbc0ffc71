import sys

print("analysis stub", sys.argv)
