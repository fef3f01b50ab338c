"""The SpatialAgent tools (arXiv 2505.17012 v3, Appendix B.4), implemented offline on OpenCV and numpy.

Every tool takes `image` as a path (the agent's executor has already turned `image-N` into one) or
a list of paths, validates its arguments through `maslab.tool`, and returns the paper's result
dictionary. What runs is stated in `toolbox.BACKENDS`: SIFT matching and the RANSAC homography are
the paper's own methods; detection, masks, counting, optical flow and camera pose are classical
stand-ins; metric depth, 3-D boxes and orientation are **oracles** read from the image's fixture
metadata (`fixtures`), because no classical method recovers them from one image. Every result of a
stand-in or an oracle carries that label under `provenance`. Tools that draw (LocalizeObjects,
GetObjectMask) save their picture into the run's workspace as the next `image-k` and return its id
under `image`. Each tool is registered through a `maslab.tools` entry point (its name is the
paper's).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from maslab.tool import ToolFailure, tool
from maslab.tools.spatial import fixtures, vision
from maslab.tools.spatial.toolbox import BACKENDS, SPECS
from maslab.tools.spatial.workspace import current_workspace, save_image

__all__ = list(SPECS)

Images = str | list[str]
Objects = str | list[str]


def _spatial_tool(fn: Any) -> Any:
    """`@tool` with the paper's name and description; a generous timeout (SIFT on large frames)."""
    return tool(name=fn.__name__, description=SPECS[fn.__name__].description, timeout=120.0)(fn)


def _provenance(name: str) -> dict[str, Any]:
    label = BACKENDS[name].label
    return {"provenance": label} if label else {}


def _one(image: Images, name: str) -> Path:
    if isinstance(image, list):
        if len(image) != 1:
            raise ToolFailure(f"{name} analyses one image; got {len(image)}")
        image = image[0]
    return Path(image)


def _many(image: Images, name: str, *, exactly: int | None = None, at_least: int = 1) -> list[Path]:
    paths = [Path(p) for p in ([image] if isinstance(image, str) else image)]
    if exactly is not None and len(paths) != exactly:
        raise ToolFailure(f"{name} needs exactly {exactly} images (earlier first); got {len(paths)}")
    if len(paths) < at_least:
        raise ToolFailure(f"{name} needs at least {at_least} image(s)")
    return paths


def _objects(objects: Objects) -> list[str]:
    items = [objects] if isinstance(objects, str) else list(objects)
    if not items or not all(isinstance(o, str) and o.strip() for o in items):
        raise ToolFailure("objects must be a non-empty description or a list of them")
    return [o.strip() for o in items]


def _bbox(d: vision.Detection) -> list[int]:
    return [int(v) for v in d.bbox]


def _largest(image: Any, query: str) -> vision.Detection | None:
    found = vision.detect(image, query)
    return max(found, key=lambda d: d.area) if found else None


# ----------------------------------------------------------------------------------- general perception


@_spatial_tool
def LocalizeObjects(image: Images, objects: Objects) -> dict[str, Any]:
    """Localize specific objects in an image."""
    picture = vision.load_image(_one(image, "LocalizeObjects"))
    found = [d for q in _objects(objects) for d in vision.detect(picture, q)]
    out: dict[str, Any] = {"regions": [{"label": d.label, "bbox": _bbox(d), "score": d.score} for d in found]}
    drawn = save_image(vision.draw(picture, found)) if found else None
    if drawn:
        out["image"] = drawn
    return {**out, **_provenance("LocalizeObjects")}


@_spatial_tool
def CountObjects(image: Images, objects: Objects) -> dict[str, Any]:
    """Count target objects in an image."""
    picture = vision.load_image(_one(image, "CountObjects"))
    h, w = picture.shape[:2]
    points = {}
    for q in _objects(objects):
        points[q] = [[round(d.centroid[0] / w, 4), round(d.centroid[1] / h, 4)] for d in vision.detect(picture, q)]
    return {"points": points, **_provenance("CountObjects")}


@_spatial_tool
def GetObjectMask(image: Images, objects: Objects) -> dict[str, Any]:
    """Generate pixel-level segmentation masks for specified objects."""
    picture = vision.load_image(_one(image, "GetObjectMask"))
    total = picture.shape[0] * picture.shape[1]
    results: list[dict[str, Any]] = []
    union = np.zeros(picture.shape[:2], bool)
    for q in _objects(objects):
        found = vision.detect(picture, q)
        if not found:
            results.append({"object": q, "mask_area": 0.0, "bbox": None, "error": f"no {q} found"})
        for d in found:
            union |= d.mask
            results.append({"object": q, "mask_area": round(d.area / total, 5), "bbox": _bbox(d), "error": None})
    out: dict[str, Any] = {"results": results}
    drawn = save_image((union * 255).astype(np.uint8)) if union.any() else None
    if drawn:
        out["image"] = drawn
    return {**out, **_provenance("GetObjectMask")}


@_spatial_tool
def Detect3DObjects(image: Images, objects: Objects) -> dict[str, Any]:
    """Detect specific objects in an image and estimate their 3D bounding boxes."""
    meta = fixtures.scene_meta(_one(image, "Detect3DObjects"), need="a 3-D bounding box")
    found: list[dict[str, Any]] = []
    for q in _objects(objects):
        hits = [o for o in meta.objects if o.bbox_3d is not None and fixtures.matches_label(q, o.label)]
        found += [{"label": o.label, "bbox_3d": o.bbox_3d.model_dump()} for o in hits]
        if not hits:
            found.append({"label": q, "bbox_3d": None, "error": f"no {q} in the fixture metadata"})
    return {"objects": found, **_provenance("Detect3DObjects")}


# ----------------------------------------------------------------------------------- motion and transformation


@_spatial_tool
def EstimateOpticalFlow(image: Images) -> dict[str, Any]:
    """Estimate optical flow between two images to measure motion in pixels."""
    earlier, later = (vision.load_image(p) for p in _many(image, "EstimateOpticalFlow", exactly=2))
    fx, fy = vision.mean_flow(earlier, later)
    return {"output": {"mean_flow_x": round(fx, 3), "mean_flow_y": round(fy, 3)}, **_provenance("EstimateOpticalFlow")}


def _check_matching(num_keypoints: int, ratio_th: float) -> None:
    if num_keypoints < 8:
        raise ToolFailure(f"num_keypoints must be at least 8, got {num_keypoints}")
    if not 0 < ratio_th <= 1:
        raise ToolFailure(f"ratio_th must lie in (0, 1], got {ratio_th}")


@_spatial_tool
def MatchImagesSIFT(image: Images, num_keypoints: int = 1200, ratio_th: float = 0.75) -> dict[str, Any]:
    """Match keypoints between two images using SIFT."""
    _check_matching(num_keypoints, ratio_th)
    a, b = (vision.load_image(p) for p in _many(image, "MatchImagesSIFT", exactly=2))
    p1, p2 = vision.sift_matches(a, b, num_keypoints, ratio_th)
    matches = [[[round(float(x1), 2), round(float(y1), 2)], [round(float(x2), 2), round(float(y2), 2)]]
               for (x1, y1), (x2, y2) in zip(p1, p2, strict=True)]
    return {"matches": matches, "num_matches": len(matches)}


@_spatial_tool
def EstimateHomographyMatrix(image: Images, num_keypoints: int = 1200, ratio_th: float = 0.75,
                             ransac_reproj_threshold: float = 5.0) -> dict[str, Any]:
    """Compute a 3*3 homography matrix between two images using SIFT features and RANSAC."""
    _check_matching(num_keypoints, ratio_th)
    if ransac_reproj_threshold <= 0:
        raise ToolFailure(f"ransac_reproj_threshold must be positive, got {ransac_reproj_threshold}")
    a, b = (vision.load_image(p) for p in _many(image, "EstimateHomographyMatrix", exactly=2))
    p1, p2 = vision.sift_matches(a, b, num_keypoints, ratio_th)
    if len(p1) < 4:
        return {"homography_matrix": None, "inliers_count": 0, "total_matches": len(p1),
                "status": f"failure: {len(p1)} matches, a homography needs at least 4"}
    H, inliers = cv2.findHomography(p1, p2, cv2.RANSAC, ransac_reproj_threshold)
    if H is None:
        return {"homography_matrix": None, "inliers_count": 0, "total_matches": len(p1),
                "status": "failure: RANSAC found no consistent homography"}
    H = H / H[2, 2]
    return {"homography_matrix": [[round(float(v), 8) for v in row] for row in H],
            "inliers_count": int(inliers.sum()), "total_matches": len(p1), "status": "success"}


# ----------------------------------------------------------------------------------- pose and geometry


def _matrix(m: Any, digits: int = 6) -> list[list[float]]:
    return [[round(float(v), digits) for v in row] for row in np.asarray(m)]


@_spatial_tool
def GetCameraParametersVGGT(image: Images) -> dict[str, Any]:
    """Extract camera extrinsic (3*4, relative to first image) and intrinsic (3*3) parameters from images."""
    paths = _many(image, "GetCameraParametersVGGT")
    pictures = [vision.load_image(p) for p in paths]
    first = pictures[0]
    K0, known = fixtures.intrinsics(paths[0], (first.shape[1], first.shape[0]))
    output: list[dict[str, Any]] = [{"image_index": 0, "extrinsic": _matrix(np.hstack([np.eye(3), np.zeros((3, 1))])),
                                     "intrinsic": _matrix(K0, 3)}]
    for i, (path, picture) in enumerate(zip(paths[1:], pictures[1:], strict=True), start=1):
        K, _ = fixtures.intrinsics(path, (picture.shape[1], picture.shape[0]))
        p0, pi = vision.sift_matches(first, picture)
        entry: dict[str, Any] = {"image_index": i, "extrinsic": None, "intrinsic": _matrix(K, 3)}
        if len(p0) < 8:
            output.append({**entry, "error": f"{len(p0)} SIFT matches with image 0; relative pose needs at least 8"})
            continue
        if not np.allclose(K, K0):  # express image i's points in image 0's pixel frame
            pi = cv2.perspectiveTransform(pi.reshape(-1, 1, 2), K0 @ np.linalg.inv(K)).reshape(-1, 2)
        E, inliers = cv2.findEssentialMat(p0, pi, K0, method=cv2.USAC_MAGSAC, prob=0.999, threshold=1.0)
        if E is None or E.shape != (3, 3):
            output.append({**entry, "error": "no essential matrix (degenerate or planar view pair)"})
            continue
        _, R, t, _ = cv2.recoverPose(E, p0, pi, K0, mask=inliers)
        output.append({**entry, "extrinsic": _matrix(np.hstack([R, t]))})
    prov = _provenance("GetCameraParametersVGGT")
    if not known:
        prov["provenance"] += "; no fixture intrinsics: K assumed (focal 1.2 × the longer side, centred)"
    return {"output": output, **prov}


def _depth_of(picture: Any, path: Path) -> Any:
    return fixtures.depth_map(path, picture.shape[:2])


def _scene(indoor_or_outdoor: str) -> None:
    if indoor_or_outdoor not in ("indoor", "outdoor"):
        raise ToolFailure(f"indoor_or_outdoor must be 'indoor' or 'outdoor', got {indoor_or_outdoor!r}")


@_spatial_tool
def EstimateObjectGeometryProperties(image: Images, object_descs: Objects) -> dict[str, Any]:
    """Analyze objects in an image to obtain bounding boxes, mask areas, depth (m), and camera parameters."""
    path = _one(image, "EstimateObjectGeometryProperties")
    picture = vision.load_image(path)
    depth = _depth_of(picture, path)
    total = picture.shape[0] * picture.shape[1]
    results = []
    for q in _objects(object_descs):
        d = _largest(picture, q)
        if d is None:
            results.append({"object": q, "bbox": None, "mask_area": 0.0, "depth": None, "error": f"no {q} found"})
        else:
            results.append({"object": q, "bbox": _bbox(d), "mask_area": round(d.area / total, 5),
                            "depth": round(float(np.median(depth[d.mask])), 3), "error": None})
    K, _ = fixtures.intrinsics(path, (picture.shape[1], picture.shape[0]))
    camera = {"intrinsic": _matrix(K, 3), "extrinsic": _matrix(np.hstack([np.eye(3), np.zeros((3, 1))]))}
    return {"results": results, "camera_parameters": camera, **_provenance("EstimateObjectGeometryProperties")}


@_spatial_tool
def EstimateRegionDepth(image: Images, bboxes: list[float] | list[list[float]],
                        indoor_or_outdoor: Literal["indoor", "outdoor"],
                        mode: Literal["mean", "center"] = "mean") -> dict[str, Any]:
    """Estimate metric depth (in meters) of specified regions in an image."""
    _scene(indoor_or_outdoor)
    path = _one(image, "EstimateRegionDepth")
    picture = vision.load_image(path)
    depth = _depth_of(picture, path)
    h, w = depth.shape[:2]
    boxes = [bboxes] if bboxes and not isinstance(bboxes[0], list) else bboxes
    depths = []
    for box in boxes:
        entry: dict[str, Any] = {"bbox": box, "depth": None, "error": None}
        if len(box) != 4:
            depths.append({**entry, "error": "a box is [left, top, right, bottom]"})
            continue
        left, top = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        right, bottom = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
        if right <= left or bottom <= top:
            depths.append({**entry, "error": f"box lies outside the {w}×{h} image or is empty"})
            continue
        if mode == "center":
            value = depth[min(h - 1, int((top + bottom) / 2)), min(w - 1, int((left + right) / 2))]
        else:
            value = depth[top:bottom, left:right].mean()
        depths.append({**entry, "depth": round(float(value), 3)})
    return {"depths": depths, "unit": "meters", **_provenance("EstimateRegionDepth")}


@_spatial_tool
def EstimateObjectDepth(image: Images, objects: Objects, indoor_or_outdoor: Literal["indoor", "outdoor"]) -> dict[str, Any]:
    """Estimate object depth (in meters) from an image."""
    _scene(indoor_or_outdoor)
    path = _one(image, "EstimateObjectDepth")
    picture = vision.load_image(path)
    depth = _depth_of(picture, path)
    results = []
    for q in _objects(objects):
        d = _largest(picture, q)
        results.append({"object": q, "depth": None, "error": f"no {q} found"} if d is None else
                       {"object": q, "depth": round(float(np.median(depth[d.mask])), 3), "error": None})
    return {"results": results, **_provenance("EstimateObjectDepth")}


@_spatial_tool
def GetObjectOrientation(image: Images, objects: Objects) -> dict[str, Any]:
    """Estimate 3D orientation of objects in an image."""
    meta = fixtures.scene_meta(_one(image, "GetObjectOrientation"), need="object orientation")
    results = []
    for q in _objects(objects):
        hit = next((o for o in meta.objects if o.orientation is not None and fixtures.matches_label(q, o.label)), None)
        results.append({"object": q, "angle_data": None, "error": f"no orientation for {q} in the fixture metadata"}
                       if hit is None else {"object": q, "angle_data": hit.orientation.model_dump(), "error": None})
    return {"results": results, **_provenance("GetObjectOrientation")}


@_spatial_tool
def Get3DDistance(image: Images, point_1: list[float], point_2: list[float]) -> dict[str, Any]:
    """Calculates the absolute 3D spatial distance (in meters) between two pixel points (x, y) in an image."""
    path = _one(image, "Get3DDistance")
    picture = vision.load_image(path)
    depth = _depth_of(picture, path)
    h, w = depth.shape[:2]
    K, _ = fixtures.intrinsics(path, (w, h))
    points = []
    for name, p in (("point_1", point_1), ("point_2", point_2)):
        if len(p) != 2:
            raise ToolFailure(f"{name} must be [x, y], got {p}")
        u, v = float(p[0]), float(p[1])
        if not (0 <= u < w and 0 <= v < h):
            raise ToolFailure(f"{name} {p} lies outside the {w}×{h} image")
        z = float(depth[int(v), int(u)])
        points.append(np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z]))
    return {"distance_meters": round(float(np.linalg.norm(points[0] - points[1])), 3), **_provenance("Get3DDistance")}


# ----------------------------------------------------------------------------------- auxiliary


@_spatial_tool
async def SelfThinking(query: str, image: Images | None = None) -> dict[str, Any]:
    """The core model answers a sub-question (text only, or with images)."""
    ws = current_workspace()
    if ws is None or ws.think is None:
        raise ToolFailure("SelfThinking asks the agent's core model, which is only available inside a spatial_agent run")
    images = [] if image is None else [Path(p) for p in ([image] if isinstance(image, str) else image)]
    return {"response": await ws.think(query, images)}


@_spatial_tool
def Terminate(answer: str) -> dict[str, Any]:
    """Submit the final answer."""
    return {"answer": answer}
