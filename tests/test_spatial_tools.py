"""The SpatialAgent toolbox (`maslab.tools.spatial`) on synthetic images with known geometry.

Images come from the synthetic benchmark's renderers (labelled synthetic): random textures warped by
a known homography, crops of a texture shifted by a known camera pan, flat scenes of coloured shapes
with a depth map, and a ray-cast textured room seen from two known poses. Every tool is called
through `maslab.tool` (validation, errors as results) exactly as the agent's executor calls it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from maslab.bench.spatial.synthetic import (
    K_SYNTHETIC,
    _save,
    homography,
    pan_pair,
    random_homography_params,
    render_room,
    render_scene,
    room_textures,
    warp_pair,
    yaw_rotation,
)
from maslab.plugins import TOOLS, entry_points
from maslab.tool import ToolResult, get_tool
from maslab.tools.spatial.toolbox import BACKENDS, SPECS, TOOL_NAMES
from maslab.tools.spatial.workspace import Workspace


async def call(name: str, **arguments) -> dict:
    result: ToolResult = await get_tool(name).call(arguments)
    assert result.ok, result.error
    return json.loads(result.content)


def write(tmp_path: Path, name: str, image) -> str:
    path = tmp_path / f"{name}.png"
    assert cv2.imwrite(str(path), image)
    return str(path)


@pytest.fixture
def scene(tmp_path):
    """A red circle (3.5 m), a blue square (6.0 m), two green triangles (2.0 m) on a textured floor."""
    rng = np.random.default_rng(7)
    objects = [{"colour": "red", "shape": "circle", "depth": 3.5, "r": 15, "cx": 80, "cy": 70},
               {"colour": "blue", "shape": "square", "depth": 6.0, "r": 12, "cx": 230, "cy": 60},
               {"colour": "green", "shape": "triangle", "depth": 2.0, "r": 14, "cx": 90, "cy": 180},
               {"colour": "green", "shape": "triangle", "depth": 2.0, "r": 10, "cx": 250, "cy": 190}]
    image, depth, placed = render_scene(rng, objects)
    path = _save(tmp_path / "scene", 0, image, depth, placed)
    return path, depth, placed


# ----------------------------------------------------------------------------------------- the toolbox


def test_every_tool_of_the_spec_table_is_registered_under_the_papers_name_with_its_arguments():
    registered = {ep.name for ep in entry_points(TOOLS)}
    assert set(TOOL_NAMES) <= registered and len(TOOL_NAMES) == 15
    for name in TOOL_NAMES:
        tool = get_tool(name)
        assert tool.name == name and tool.description == SPECS[name].description
        assert set(SPECS[name].args_spec) == set(tool.parameters["properties"]), name


def test_opencv_is_a_single_distribution_below_5_with_haar_cascades_and_hog():
    from importlib.metadata import PackageNotFoundError, version

    assert int(cv2.__version__.split(".")[0]) == 4
    assert (Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml").is_file()
    assert cv2.HOGDescriptor_getDefaultPeopleDetector().size > 0
    installed = []
    for dist in ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"):
        try:
            installed.append((dist, version(dist)))
        except PackageNotFoundError:
            pass
    assert [d for d, _ in installed] == ["opencv-python"], installed


# ----------------------------------------------------------------------------------------- motion and transformation


async def test_homography_of_a_texture_warped_by_a_known_H_is_recovered_within_a_tenth_of_a_pixel(tmp_path):
    rng = np.random.default_rng(3)
    for known in (np.array([[1, 0, 7.3], [0, 1, -4.6], [0, 0, 1.0]]),
                  homography(640, 480, **random_homography_params(rng))):
        first, second, H = warp_pair(rng, 480, 640, H_=known)
        out = await call("EstimateHomographyMatrix", image=[write(tmp_path, "a", first), write(tmp_path, "b", second)])
        assert out["status"] == "success" and out["inliers_count"] > 100 and out["total_matches"] >= out["inliers_count"]
        estimate = np.array(out["homography_matrix"])
        centre = np.array([320.0, 240.0, 1.0])
        mapped = [(M @ centre)[:2] / (M @ centre)[2] for M in (estimate, H)]
        assert np.linalg.norm(mapped[0] - mapped[1]) < 0.1  # the centre's translation
    assert np.abs(estimate[:2, 2] - H[:2, 2]).max() < 1.0
    pure = await call("EstimateHomographyMatrix", image=[write(tmp_path, "c", first), write(tmp_path, "c2", first)])
    assert np.allclose(pure["homography_matrix"], np.eye(3), atol=1e-3)


async def test_homography_with_too_few_matches_reports_failure_not_an_exception(tmp_path):
    blank = np.full((120, 160, 3), 128, np.uint8)
    out = await call("EstimateHomographyMatrix", image=[write(tmp_path, "a", blank), write(tmp_path, "b", blank)])
    assert out["homography_matrix"] is None and out["status"].startswith("failure")


async def test_a_pan_right_whose_content_shifts_4_px_left_gives_mean_flow_x_of_plus_4(tmp_path):
    rng = np.random.default_rng(11)
    first, second = pan_pair(rng, 4, 0)  # camera 4 px right: the content moves 4 px left
    assert np.array_equal(first[:, 4:], second[:, :-4])
    out = await call("EstimateOpticalFlow", image=[write(tmp_path, "a", first), write(tmp_path, "b", second)])
    assert out["output"]["mean_flow_x"] == pytest.approx(4.0, abs=0.05)
    assert out["output"]["mean_flow_y"] == pytest.approx(0.0, abs=0.05)
    assert out["provenance"].startswith("stand-in: OpenCV DIS")
    down = pan_pair(rng, 0, 6)  # camera down: mean_flow_y > 0
    out = await call("EstimateOpticalFlow", image=[write(tmp_path, "c", down[0]), write(tmp_path, "d", down[1])])
    assert out["output"]["mean_flow_y"] == pytest.approx(6.0, abs=0.05)


async def test_optical_flow_needs_exactly_two_images_earlier_first(tmp_path):
    one = write(tmp_path, "a", np.zeros((40, 40, 3), np.uint8))
    result = await get_tool("EstimateOpticalFlow").call({"image": [one]})
    assert not result.ok and "exactly 2 images" in result.error and result.error_type == "ToolFailure"


async def test_sift_matches_follow_the_known_shift_and_the_ratio_test_prunes(tmp_path):
    rng = np.random.default_rng(5)
    first, second = pan_pair(rng, 9, -3)
    paths = [write(tmp_path, "a", first), write(tmp_path, "b", second)]
    out = await call("MatchImagesSIFT", image=paths)
    assert out["num_matches"] == len(out["matches"]) > 100
    shifts = np.array([[x2 - x1, y2 - y1] for (x1, y1), (x2, y2) in out["matches"]])
    assert np.allclose(np.median(shifts, axis=0), [-9, 3], atol=0.05)
    strict = await call("MatchImagesSIFT", image=paths, num_keypoints=300, ratio_th=0.4)
    assert 0 < strict["num_matches"] < out["num_matches"]
    assert "provenance" not in out  # the paper's own method


# ----------------------------------------------------------------------------------------- pose and geometry


async def test_camera_parameters_recover_a_known_relative_pose_of_two_room_views(tmp_path):
    rng = np.random.default_rng(2)
    textures = room_textures(rng)
    R1, centre = yaw_rotation(8.0), np.array([0.3, 0.0, 0.2])
    views = [render_room(textures, np.eye(3), np.zeros(3)), render_room(textures, R1, -R1 @ centre)]
    paths = [_save(tmp_path / "room", i, image, depth) for i, (image, depth) in enumerate(views)]
    out = await call("GetCameraParametersVGGT", image=paths)
    first, second = out["output"]
    assert first["image_index"] == 0 and np.allclose(first["extrinsic"], np.hstack([np.eye(3), np.zeros((3, 1))]))
    assert second["intrinsic"] == K_SYNTHETIC  # from the fixture metadata
    E = np.array(second["extrinsic"])
    assert E.shape == (3, 4)
    angle = math.degrees(math.acos(np.clip((np.trace(E[:, :3].T @ R1) - 1) / 2, -1, 1)))
    assert angle < 1.5
    t_true = -R1 @ centre
    direction = math.degrees(math.acos(np.clip(E[:, 3] @ t_true / np.linalg.norm(t_true), -1, 1)))
    assert direction < 15 and np.linalg.norm(E[:, 3]) == pytest.approx(1.0, abs=1e-3)  # up to scale
    assert "stand-in" in out["provenance"] and "oracle" in out["provenance"]


async def test_camera_parameters_without_fixture_intrinsics_say_that_K_was_assumed(tmp_path):
    path = write(tmp_path, "plain", np.full((100, 200, 3), 90, np.uint8))
    out = await call("GetCameraParametersVGGT", image=[path])
    assert out["output"][0]["intrinsic"] == [[240.0, 0.0, 100.0], [0.0, 240.0, 50.0], [0.0, 0.0, 1.0]]
    assert "K assumed" in out["provenance"]


async def test_localize_count_and_mask_find_the_rendered_shapes_exactly(scene):
    path, _, placed = scene
    out = await call("LocalizeObjects", image=path, objects=["red circle", "blue square"])
    assert [(r["label"], r["bbox"]) for r in out["regions"]] == [("red circle", placed[0]["bbox"]),
                                                               ("blue square", placed[1]["bbox"])]
    assert out["provenance"].startswith("stand-in: HSV")
    counted = await call("CountObjects", image=path, objects=["green triangles", "squares", "yellow circle"])
    assert [len(counted["points"][k]) for k in ("green triangles", "squares", "yellow circle")] == [2, 1, 0]
    assert all(0 <= v <= 1 for p in counted["points"]["green triangles"] for v in p)
    masks = await call("GetObjectMask", image=path, objects=["red circle", "purple square"])
    red, purple = masks["results"]
    assert red["mask_area"] == pytest.approx(placed[0]["mask"].sum() / (320 * 240), abs=1e-5) and red["error"] is None
    assert purple == {"object": "purple square", "mask_area": 0.0, "bbox": None, "error": "no purple square found"}


async def test_the_detector_stand_in_names_its_vocabulary_for_an_unknown_object(scene):
    result = await get_tool("LocalizeObjects").call({"image": scene[0], "objects": ["coffee mug"]})
    assert not result.ok and "cannot find 'coffee mug'" in result.error and "colours" in result.error
    people = await call("LocalizeObjects", image=scene[0], objects=["person", "face"])  # HOG and Haar run
    assert people["regions"] == []


async def test_depth_oracles_read_the_fixture_depth_map(scene):
    path, depth, placed = scene
    region = await call("EstimateRegionDepth", image=path, bboxes=[[0, 0, 320, 10], placed[1]["bbox"]],
                        indoor_or_outdoor="indoor")
    assert region["unit"] == "meters" and region["provenance"].startswith("oracle:")
    assert region["depths"][0]["depth"] == pytest.approx(float(depth[:10].mean()), abs=1e-3)
    assert region["depths"][1]["depth"] == pytest.approx(6.0, abs=1e-3)
    centre = await call("EstimateRegionDepth", image=path, bboxes=placed[0]["bbox"], indoor_or_outdoor="indoor",
                        mode="center")
    assert centre["depths"][0]["depth"] == 3.5
    outside = await call("EstimateRegionDepth", image=path, bboxes=[400, 0, 500, 10], indoor_or_outdoor="indoor")
    assert outside["depths"][0]["depth"] is None and "outside" in outside["depths"][0]["error"]
    objects = await call("EstimateObjectDepth", image=path, objects=["red circle", "green triangle"],
                         indoor_or_outdoor="outdoor")
    assert [r["depth"] for r in objects["results"]] == [3.5, 2.0]


async def test_3d_distance_back_projects_both_pixels_with_depth_and_intrinsics(scene):
    path, _, placed = scene
    a, b = placed[0], placed[1]
    out = await call("Get3DDistance", image=path, point_1=[a["cx"], a["cy"]], point_2=[b["cx"], b["cy"]])
    f, cx, cy = K_SYNTHETIC[0][0], K_SYNTHETIC[0][2], K_SYNTHETIC[1][2]
    p = [np.array([(o["cx"] - cx) * o["depth"] / f, (o["cy"] - cy) * o["depth"] / f, o["depth"]]) for o in (a, b)]
    assert out["distance_meters"] == pytest.approx(float(np.linalg.norm(p[0] - p[1])), abs=1e-3)
    assert out["provenance"].startswith("oracle:")
    result = await get_tool("Get3DDistance").call({"image": path, "point_1": [1000, 5], "point_2": [1, 1]})
    assert not result.ok and "outside the 320×240 image" in result.error


async def test_3d_boxes_and_orientation_are_fixture_oracles_and_say_so(scene, tmp_path):
    path, _, placed = scene
    boxes = await call("Detect3DObjects", image=[path], objects="blue square")
    assert boxes["objects"][0]["label"] == "blue square" and boxes["objects"][0]["bbox_3d"]["z"] == 6.0
    assert boxes["provenance"].startswith("oracle: 3-D boxes read from the image's fixture metadata")
    sidecar = Path(path).with_name("image-0.spatial.json")
    meta = json.loads(sidecar.read_text())
    meta["objects"][0]["orientation"] = {"azimuth": 315.0, "polar": 90.0, "rotation": 0.0, "confidence": 1.0}
    sidecar.write_text(json.dumps(meta))
    out = await call("GetObjectOrientation", image=path, objects=["red circle", "blue square"])
    assert out["results"][0]["angle_data"]["azimuth"] == 315.0 and out["results"][1]["angle_data"] is None
    assert out["provenance"].startswith("oracle:")
    bare = write(tmp_path, "bare", np.zeros((30, 30, 3), np.uint8))
    result = await get_tool("EstimateObjectDepth").call({"image": bare, "objects": ["red circle"],
                                                         "indoor_or_outdoor": "indoor"})
    assert not result.ok and "oracle read from fixture metadata" in result.error and "bare.spatial.json" in result.error


def test_every_stand_in_and_oracle_is_labelled_and_the_papers_own_methods_are_not():
    kinds = {name: b.kind for name, b in BACKENDS.items()}
    assert {n for n, k in kinds.items() if k == "oracle"} == {
        "Detect3DObjects", "EstimateObjectGeometryProperties", "EstimateRegionDepth", "EstimateObjectDepth",
        "GetObjectOrientation", "Get3DDistance"}
    assert kinds["MatchImagesSIFT"] == kinds["EstimateHomographyMatrix"] == "paper"
    assert all(b.label.startswith(("oracle:", "stand-in:")) for b in BACKENDS.values() if b.kind != "paper")


async def test_geometry_properties_compose_the_stand_ins(scene):
    path, _, placed = scene
    out = await call("EstimateObjectGeometryProperties", image=path, object_descs=["blue square"])
    result = out["results"][0]
    assert result["bbox"] == placed[1]["bbox"] and result["depth"] == 6.0 and result["error"] is None
    assert out["camera_parameters"]["intrinsic"] == K_SYNTHETIC


# ----------------------------------------------------------------------------------------- image ids


def test_image_ids_resolve_inside_any_argument_lists_and_the_images_key(tmp_path):
    ws = Workspace([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "out")
    resolved = ws.resolve({"image": "image-1", "images": ["image-0", "image-1"], "pairs": [["image-0"], "x"],
                           "query": "compare image-0 and image-1", "n": 3})
    assert resolved == {"image": str(tmp_path / "b.png"), "images": [str(tmp_path / "a.png"), str(tmp_path / "b.png")],
                        "pairs": [[str(tmp_path / "a.png")], "x"], "query": "compare image-0 and image-1", "n": 3}
    with pytest.raises(ValueError, match="unknown image id 'image-2' \\(this task has image-0, image-1\\)"):
        ws.resolve(["image-2"])


async def test_generated_images_are_numbered_after_the_inputs(scene, tmp_path):
    path, _, _ = scene
    ws = Workspace([path, path], tmp_path / "generated")
    with ws.active():
        first = await call("LocalizeObjects", image=path, objects=["red circle"])
        second = await call("GetObjectMask", image=path, objects=["blue square"])
    assert (first["image"], second["image"]) == ("image-2", "image-3")
    assert ws.path("image-2") == tmp_path / "generated" / "image-2.jpg" and ws.path("image-2").is_file()
    with ws.active():
        again = await call("CountObjects", image=ws.resolve("image-3"), objects=["shapes"])
    assert len(again["points"]["shapes"]) == 0  # the mask picture is black and white: no coloured shapes
    outside = await call("LocalizeObjects", image=path, objects=["red circle"])
    assert "image" not in outside  # no run, no workspace: nothing saved


async def test_self_thinking_outside_a_run_is_a_clear_failure(tmp_path):
    result = await get_tool("SelfThinking").call({"query": "What is shown?"})
    assert not result.ok and "only available inside a spatial_agent run" in result.error
    assert await call("Terminate", answer="(B)") == {"answer": "(B)"}
