"""The SpatialAgent toolbox as the paper describes it to the model (arXiv 2505.17012 v3, Appendix B.4).

`SPECS` holds, per tool, the published description, argument and return specifications and
examples — the text the agent's prompts list under ACTIONS / TOOLBOX (`render_action`). `BACKENDS`
says what actually runs offline here and whether a result is an **oracle** (read from the
fixture's metadata because no classical method exists) or a **stand-in** (a classical method in
place of the paper's learned model); the tool results carry the same label in their
`provenance` key, and the agent marks it in the trace. Importing this module imports no OpenCV.

Where the appendix and the specification disagree on a return shape the appendix is followed
(`Detect3DObjects` returns ``{"objects": [...]}``, `GetObjectOrientation` ``{"results": [...]}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BACKENDS", "SPECS", "TOOL_NAMES", "Backend", "ToolSpec", "render_action", "render_signature"]


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the prompt shows it (the paper's wording)."""

    name: str
    description: str
    args_spec: dict[str, str]
    rets_spec: dict[str, str]
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Backend:
    """What runs offline for a tool: `paper` (the paper's own method), a classical `stand_in`, or an `oracle`."""

    kind: Literal["paper", "stand_in", "oracle"]
    paper: str  # the paper's backend
    ours: str  # what runs here

    @property
    def label(self) -> str:
        """The provenance string results and traces carry ("" for the paper's own method)."""
        return "" if self.kind == "paper" else f"{self.kind.replace('_', '-')}: {self.ours} (paper: {self.paper})"


def _spec(name: str, description: str, args: dict[str, str], rets: dict[str, str],
          *examples: dict[str, Any]) -> ToolSpec:
    return ToolSpec(name, " ".join(description.split()), args, rets, list(examples))


SPECS: dict[str, ToolSpec] = {s.name: s for s in [
    _spec("LocalizeObjects",
          "Localize specific objects in an image. Returns bounding boxes for target categories, optionally "
          "visualizing them.",
          {"image": "The image to analyze.", "objects": "A list of object categories to detect."},
          {"regions": "List of detected regions with label, bbox"},
          {"name": "LocalizeObjects", "arguments": {"image": "image-0", "objects": ["dog", "cat"]}}),
    _spec("CountObjects",
          "Count target objects in an image. Returns the coordinates of each detected target as points.",
          {"image": "The image to analyze.", "objects": "List of object categories to count."},
          {"points": "Dictionary {category: [points...]}, points in normalized coordinates."},
          {"name": "CountObjects", "arguments": {"image": "image-0", "objects": ["bed"]}}),
    _spec("GetObjectMask",
          "Generate pixel-level segmentation masks for specified objects. Returns mask area ratios and bounding "
          "boxes for each detected object. Suitable for analyzing object shapes, sizes, and coverage.",
          {"image": "Image file to process.", "objects": "List of object descriptions to localize and segment."},
          {"results": "List of dicts with mask area ratio, bounding box, and optional error: [{'object': str, "
                      "'mask_area': float, 'bbox': [left, top, right, bottom], 'error': str or None}]"},
          {"name": "GetObjectMask", "arguments": {"image": "image-0", "objects": ["coffee mug", "microwave"]}}),
    _spec("Detect3DObjects",
          "Detect specific objects in an image and estimate their 3D bounding boxes. Returns 3D bounding box "
          "parameters in the following format: x, y, z -> object center in camera coordinates (meters); width, "
          "height, length -> physical size (width, height, length) in meters; yaw -> heading angle around "
          "vertical axis (radians).",
          {"image": "Path to the input image.", "objects": "List of object categories to detect (or a single string)."},
          {"objects": "List of dicts with {label: str, bbox_3d: {x:float, y:float, z:float, width:float, "
                      "height:float, length:float, yaw:float}}"},
          {"name": "Detect3DObjects", "arguments": {"image": ["image-1"], "objects": ["dog", "rabbit"]}}),
    _spec("EstimateOpticalFlow",
          "Estimate optical flow between two images to measure motion in pixels. Returns average displacement "
          "in horizontal (x) and vertical (y) directions. First image is earlier in time; second is later. "
          "- mean_flow_x > 0: objects move left / camera moves right. - mean_flow_x < 0: objects move right / "
          "camera moves left. - mean_flow_y > 0: objects move up / camera moves down. - mean_flow_y < 0: objects "
          "move down / camera moves up. Useful for analyzing camera motion, object movement, and 3D spatial "
          "reasoning.",
          {"image": "A list of exactly two image paths to compute optical flow between. First image is earlier "
                    "in time."},
          {"output": "Dictionary containing 'mean_flow_x' (average horizontal pixel displacement) and "
                     "'mean_flow_y' (average vertical pixel displacement)."},
          {"name": "EstimateOpticalFlow", "arguments": {"image": ["image-1", "image-3"]}}),
    _spec("MatchImagesSIFT",
          "Match keypoints between two images using SIFT. Detects distinctive features and returns matched "
          "coordinate pairs for tasks like alignment or recognition.",
          {"image": "List of two image paths.", "num_keypoints": "Max keypoints per image (default: 1200).",
           "ratio_th": "Ratio test threshold for matching (default: 0.75)."},
          {"matches": "List of matched coordinate pairs: [[x1, y1], [x2, y2]].",
           "num_matches": "Total number of matches found."},
          {"name": "MatchImagesSIFT", "arguments": {"image": ["image-0", "image-1"], "num_keypoints": 1200,
                                                    "ratio_th": 0.75}}),
    _spec("EstimateHomographyMatrix",
          "Compute a 3*3 homography matrix between two images using SIFT features and RANSAC. Useful for "
          "alignment, perspective correction, and planar transformations.",
          {"image": "List of two image paths.", "num_keypoints": "Max keypoints per image (default: 1200).",
           "ratio_th": "Ratio test threshold (default: 0.75).",
           "ransac_reproj_threshold": "Max reprojection error in RANSAC (default: 5.0)."},
          {"homography_matrix": "3*3 matrix mapping points from first image to second.",
           "inliers_count": "Number of inlier matches used.", "total_matches": "Total matches found.",
           "status": "Success or failure."},
          {"name": "EstimateHomographyMatrix", "arguments": {"image": ["image-0", "image-1"], "num_keypoints": 1200,
                                                             "ratio_th": 0.75, "ransac_reproj_threshold": 5.0}}),
    _spec("GetCameraParametersVGGT",
          "Extract camera extrinsic (3*4, relative to first image) and intrinsic (3*3) parameters from images "
          "using VGGT. Useful for 3D reconstruction, novel view synthesis, and geometric analysis.",
          {"image": "List of image paths (at least one)."},
          {"output": "List of dicts with image_index (int), extrinsic (3*4 matrix), and intrinsic (3*3 matrix)."},
          {"name": "GetCameraParametersVGGT", "arguments": {"image": ["image-0", "image-1"]}}),
    _spec("EstimateObjectGeometryProperties",
          "Analyze objects in an image to obtain bounding boxes, mask areas, depth (m), and camera parameters. "
          "Camera parameters include intrinsic (3*3) and extrinsic (3*4) matrices for 3D geometry tasks.",
          {"image": "Image file path to analyze.", "object_descs": "List of object descriptions (e.g., ['dog', 'cat'])."},
          {"results": "List of dicts with object, bbox, mask_area, depth (m), and optional error.",
           "camera_parameters": "Dict with intrinsic (3*3) and extrinsic (3*4) matrices."},
          {"name": "EstimateObjectGeometryProperties", "arguments": {"image": "image-0",
                                                                     "object_descs": ["coffee cup", "keyboard"]}}),
    _spec("EstimateRegionDepth",
          "Estimate metric depth (in meters) of specified regions in an image. Supports indoor (0-20m) and outdoor "
          "(0-80m) scenes. Works with single or multiple bounding boxes in pixel coordinates. Depth is distance "
          "from camera to object, not between objects or object size.",
          {"image": "Image to analyze.",
           "bboxes": "Bounding box or list of boxes in pixel coordinates: [left, top, right, bottom] or [[...], ...].",
           "indoor_or_outdoor": "Scene type ('indoor' or 'outdoor').",
           "mode": "Depth calculation: 'mean' (average) or 'center' (center point). Default: 'mean'."},
          {"depths": "List of dicts with bbox, depth (m), and optional error: ['bbox': list, 'depth': float, "
                     "'error': str or None]", "unit": "Always 'meters'."},
          {"name": "EstimateRegionDepth", "arguments": {"image": "image-0", "bboxes": [[100, 50, 200, 150],
                                                                                      [150, 100, 250, 200]],
                                                        "indoor_or_outdoor": "indoor"}}),
    _spec("EstimateObjectDepth",
          "Estimate object depth (in meters) from an image. Supports indoor (0-20m) and outdoor (0-80m) scenes. "
          "Depth indicates distance from camera to object, not between objects or object size.",
          {"image": "Image to analyze.",
           "objects": "List of object descriptions to measure distance to (e.g., ['dog', 'cat']).",
           "indoor_or_outdoor": "Scene type ('indoor' or 'outdoor')."},
          {"results": "List of dicts with object description, depth (m), and optional error: ['object': str, "
                      "'depth': float, 'error': str or None]"},
          {"name": "EstimateObjectDepth", "arguments": {"image": "image-0", "objects": ["the red car", "dog"],
                                                        "indoor_or_outdoor": "outdoor"}}),
    _spec("GetObjectOrientation",
          "Estimate 3D orientation of objects in an image using Orient-Anything. Measures: - Azimuth: Horizontal "
          "rotation (0-360° clockwise) - Polar: Vertical inclination (0-180°) - Rotation: In-plane rotation (-180° "
          "to +180°) - Confidence: Reliability score. Useful for 3D understanding, pose estimation, and spatial "
          "reasoning.",
          {"image": "Image to analyze.", "objects": "Object description(s) to analyze; string or list."},
          {"results": "List of dicts with object orientation data: [{'object': str, 'angle_data': {'azimuth': "
                      "float, 'polar': float, 'rotation': float, 'confidence': float}, 'error': str or None}]"},
          {"name": "GetObjectOrientation", "arguments": {"image": "image-0", "objects": "a red car"}}),
    _spec("Get3DDistance",
          "Calculates the absolute 3D spatial distance (in meters) between two pixel points (x, y) in an image. "
          "Note: this tool should be used in outdoor scenes. Returns the calculated distance (in meters).",
          {"image": "Path to the input image.", "point_1": "List of [x, y] pixel coordinates for the first point.",
           "point_2": "List of [x, y] pixel coordinates for the second point."},
          {"distance_meters": "The calculated 3D distance (float, in meters)."},
          {"name": "Get3DDistance", "arguments": {"image": "image-0", "point_1": [100, 100], "point_2": [1000, 1000]}}),
    _spec("SelfThinking",
          "Modes: 1. Text-only: Provide 'query' for pure language tasks. 2. Vision+Language: Provide 'images' + "
          "'query' for visual analysis. Suitable for: Scene understanding, OCR, object/color recognition, "
          "classification, and concept-level Q&A.",
          {"query": "Text question or instruction (REQUIRED).",
           "image": "List of image paths. If omitted, the model performs text-only reasoning."},
          {"response": "Model's response string."},
          {"name": "SelfThinking", "arguments": {"query": "Summarize the image content.", "image": "image-0"}}),
    _spec("Terminate",
          "Use this function ONLY when you are completely confident in your final answer. For multiple-choice "
          "questions: Specify the letter of the correct option. For numerical answers: Include both the specific "
          "value and appropriate unit of measurement (e.g., meter or centimeter). For yes/no questions: Clearly "
          "state 'Yes' or 'No'. DO NOT call this function if you are uncertain or need to perform additional "
          "analysis. Double-check your answer before terminating!",
          {"answer": "The final answer with proper formatting. For multiple choice: include letter (e.g., "
                     "'A. explanation' or '(B)'). For numerical answers: include units (e.g., '3.25 meters')."},
          {"answer": "The final answer that will be submitted."},
          {"name": "Terminate", "arguments": {"answer": "A. Yes."}},
          {"name": "Terminate", "arguments": {"answer": "(B)."}},
          {"name": "Terminate", "arguments": {"answer": "47.3 centimeters."}}),
]}

TOOL_NAMES: tuple[str, ...] = tuple(SPECS)

_DETECTOR = "HSV colour threshold + connected components (HOG people, Haar faces)"
_DEPTH = "the metric depth map in the image's fixture metadata"
BACKENDS: dict[str, Backend] = {
    "LocalizeObjects": Backend("stand_in", "Rex-Omni", _DETECTOR),
    "CountObjects": Backend("stand_in", "Rex-Omni", _DETECTOR + ", one point per component"),
    "GetObjectMask": Backend("stand_in", "Rex-Omni + SAM2", "connected-component masks of " + _DETECTOR),
    "Detect3DObjects": Backend("oracle", "DetAny3D", "3-D boxes read from the image's fixture metadata"),
    "EstimateOpticalFlow": Backend("stand_in", "RAFT", "OpenCV DIS optical flow, the paper's sign convention"),
    "MatchImagesSIFT": Backend("paper", "OpenCV SIFT", "OpenCV SIFT + BFMatcher ratio test"),
    "EstimateHomographyMatrix": Backend("paper", "SIFT + RANSAC", "OpenCV SIFT + findHomography (RANSAC)"),
    "GetCameraParametersVGGT": Backend("stand_in", "VGGT", "SIFT + findEssentialMat (MAGSAC) + recoverPose, intrinsics "
                                       "from fixture metadata (oracle), translation up to scale"),
    "EstimateObjectGeometryProperties": Backend("oracle", "SAM2 + Depth-Anything-V2 + VGGT",
                                                "detector stand-in masks, depth from " + _DEPTH),
    "EstimateRegionDepth": Backend("oracle", "Depth-Anything-V2 (metric)", _DEPTH),
    "EstimateObjectDepth": Backend("oracle", "Rex-Omni + Depth-Anything-V2", "detector stand-in masks, depth from "
                                   + _DEPTH),
    "GetObjectOrientation": Backend("oracle", "OrientAnything", "orientation read from the image's fixture metadata"),
    "Get3DDistance": Backend("oracle", "MapAnything", "back-projection of both pixels with " + _DEPTH
                             + " and the fixture intrinsics"),
    "SelfThinking": Backend("paper", "the core model", "the core model"),
    "Terminate": Backend("paper", "-", "-"),
}


def render_action(spec: ToolSpec) -> str:
    """One ACTIONS entry as the reference scaffold lists it: name, description, arguments, returns, examples."""
    lines = [f"Name: {spec.name}", f"Description: {spec.description}", f"Arguments: {json.dumps(spec.args_spec)}",
             f"Returns: {json.dumps(spec.rets_spec)}", "Examples:"]
    lines += [json.dumps(e) for e in spec.examples]
    return "\n".join(lines)


def render_signature(spec: ToolSpec) -> str:
    """One line per tool, for small context windows: `Name(arg, …) -> returns`."""
    return f"{spec.name}({', '.join(spec.args_spec)}) -> {', '.join(spec.rets_spec)}"
