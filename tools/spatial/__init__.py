"""The SpatialAgent toolbox (arXiv 2505.17012 v3): perception and geometry tools on OpenCV, offline.

Modules: `toolbox` (the paper's tool descriptions for prompts, and what runs offline — paper
method, classical stand-in or oracle; imports no OpenCV), `workspace` (`image-N` ids, generated
images, the run's core model), `fixtures` (the sidecar metadata oracles read: intrinsics, metric
depth maps, 3-D boxes, orientations), `vision` (the classical algorithms), `tools` (the fifteen
tools, each registered through a `maslab.tools` entry point under the paper's name).

Requires `opencv-python<5` (the `spatial` extra): OpenCV 5 dropped the Haar cascades and the HOG
people detector the detector stand-in uses, and the one OpenCV distribution serves LAD's OCR too.
"""
