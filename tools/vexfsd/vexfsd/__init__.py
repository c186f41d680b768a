# SPDX-License-Identifier: GPL-2.0
"""vexfsd: the reference embedding sidecar of VexFS."""

__version__ = "0.1"
