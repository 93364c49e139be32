"""Filter `pip freeze` into requirements.lock: Linux-only CUDA wheels get a platform marker.

PyPI's Linux torch wheel pulls in NVIDIA's CUDA libraries and triton; they do not exist
for macOS or Windows, so the lock marks them instead of breaking installs there.
"""

import sys

LINUX_ONLY = ("nvidia-", "triton", "cuda-")
SKIPPED = ("pip==", "wheel==")  # the installer itself is not pinned

print("# Pinned versions, tested by CI. Regenerate with `make lock`.")
for line in sys.stdin:
    line = line.strip()
    if not line or line.startswith("#") or line.lower().startswith(SKIPPED):
        continue
    if line.lower().startswith(LINUX_ONLY):
        line += ' ; sys_platform == "linux"'
    print(line)
