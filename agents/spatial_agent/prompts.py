"""SpatialAgent's prompts: the wording the paper publishes (arXiv 2505.17012 v3, Appendix B.3).

ReAct: the observer prompt (goal, actions, task instructions, tool-usage instructions with the three
warnings, format, examples — the four published demos), the executor's observation message and the
summarizer's forced-answer message. Plan-Execute: the planner, executor, summarizer and fallback
prompts. Two pieces exist only in the reference scaffold's code, whose licence does not let us copy
it, so they are ours, asking the same things in the same order: the parse-error feedback (strict
JSON with three repair hints; or fix / Terminate) and the request line. The text-only note (a model
that cannot see images) is ours too. Placeholders are filled by `str.replace`, never `format`, so
braces in model text or tool results are inert.
"""

from __future__ import annotations

import json
from typing import Any

from maslab.tools.spatial.toolbox import SPECS, ToolSpec, render_action, render_signature

__all__ = [
    "DEMOS", "FALLBACK_PROMPT", "JSON_FEEDBACK", "OTHER_FEEDBACK", "PE_EXECUTOR_PROMPT", "PE_SUMMARIZER_PROMPT",
    "PLANNER_PROMPT", "REACT_EXECUTOR_SUFFIX", "REACT_SUMMARIZER_PROMPT", "fill", "observer_prompt", "request",
    "text_only_note", "toolbox_text",
]


def fill(template: str, **values: str) -> str:
    """Replace each ``{name}`` placeholder by its value, in one pass over the template."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def toolbox_text(detail: str = "full", tools: tuple[str, ...] | None = None) -> str:
    """The ACTIONS / TOOLBOX listing: every tool in full (the paper), or one signature line each."""
    specs: list[ToolSpec] = [SPECS[n] for n in (tools or tuple(SPECS))]
    if detail == "signatures":
        return "\n".join(render_signature(s) for s in specs)
    return "\n\n".join(render_action(s) for s in specs)


# ------------------------------------------------------------------------------------------- ReAct

_OBSERVER_GOAL = """[BEGIN OF GOAL]
You are a helpful assistant, and your goal is to solve the # USER REQUEST #.
You can either rely on your own capabilities or perform actions with external tools to help you.
A list of all available actions is provided to you below.
[END OF GOAL]"""

_OBSERVER_RULES = """[BEGIN OF TASK INSTRUCTIONS]
1. You must only select actions from # ACTIONS #.
2. You can only call one action at a time.
3. If no action is needed, please make actions an empty list (i.e., "actions": []).
4. You must always call **Terminate** with your final answer at the end.
5. Please note that the priority of the SelfThinking tool is relatively low. Please give priority to using other tools, and only consider using this tool if the problem cannot be solved otherwise.
[END OF TASK INSTRUCTIONS]
[BEGIN OF TOOL USAGE INSTRUCTIONS]
1. **Construct the correct image path** for the tool to use, ensuring the path can be accessed and read properly.
2. For object distance and object size(Length, width, height,tall, short, slim, or heavy) problems, first observe the image. If the scene is outdoors, **FIRST** use 'LocalizeObjects' to obtain the 2D bounding boxes, then determine the pair of points (one from each object) that are closest to each other, and use these points as the 'point' inputs for 'Get3DDistance' to get the distance between the two objects.
Do **NOT** simply use the center points of the boxes as the closest points between two objects.
3. For counting-related problems, **USE** 'CountObjects'; the number of returned points equals the number of objects.
4. For camera-related problems, you may need to **USE** 'GetCameraParametersVGGT' to obtain the camera parameters.
======================= CRITICAL WARNING =======================
**DO NOT** invent or mention any tool that is **NOT explicitly defined** in #ACTIONS#.
**DO NOT** fabricate tool usage results if you have NOT actually called the tool.
You MUST only describe tool results that are actually obtained during execution.
Violation of this rule is considered a **SERIOUS ERROR**.
================================================================
====================== RELIABILITY WARNING =====================
If a tool result contains **ambiguous references** - for example, 'LocalizeObjects' returns multiple bounding boxes for the same object - **the result is unreliable**.
In such cases, you SHOULD rely on **reasoning** instead of depending on the tool output.
Treat this as a high-risk situation and avoid making decisions solely based on such tool results.
================================================================
=================== TOOL CHAIN LENGTH WARNING ==================
If the tool invocation chain becomes **too long**, you MUST **STOP** calling further tools to avoid reaching the maximum number of allowed calls.
In such cases, immediately switch to using **SelfThinking** to answer, **INCLUDING all input images** required for reasoning.
Failure to follow this rule may result in task termination without producing a valid answer.
================================================================
[END OF TOOL USAGE INSTRUCTIONS]
[BEGIN OF FORMAT INSTRUCTIONS]
Your output should be in a strict JSON format as follows:
{"thought": "the thought process, or an empty string", "actions": [{"name": "action1", "arguments": {"argument1": "value1", "argument2": "value2"}}]}
[END OF FORMAT INSTRUCTIONS]"""

# The four ReAct demos shown in the paper (camera motion by optical flow, orientation by azimuth bins,
# an indoor distance and an indoor relative size answered without tools).
DEMOS: list[dict[str, Any]] = [
    {"user_request": "Between image-0 and image-1, what is the primary direction of the camera's movement? Please "
                     "answer with one of the following options: A. The camera moved to the right B. The camera moved "
                     "to the left C. The camera moved downward D. The camera moved upward",
     "steps": [
         {"thought": "To determine the camera's movement direction, I need to compute the average optical flow "
                     "between the two images using RAFT. The average optical flow indicates pixel offsets, where "
                     "positive mean_flow_x suggests camera movement to the right, negative to the left, positive "
                     "mean_flow_y downward, and negative upward.",
          "actions": [{"name": "EstimateOpticalFlow", "arguments": {"images": ["image-0", "image-1"]}}],
          "observation": {"output": {"mean_flow_x": 2.5, "mean_flow_y": -0.3}}},
         {"thought": "The optical flow results show mean_flow_x = 2.5 (positive, indicating camera moved right) and "
                     "mean_flow_y = -0.3 (negative, indicating camera moved up). Since the absolute value of "
                     "mean_flow_x (2.5) is much larger than mean_flow_y (0.3), the primary camera movement is to the "
                     "right.",
          "actions": [{"name": "Terminate", "arguments": {"answer": "(A)"}}], "observation": {}}]},
    {"user_request": "In image-0, which direction is the person facing? A. Facing the viewer while slightly to the "
                     "right B. Facing the viewer while slightly to the left C. Facing away from the viewer while "
                     "slightly to the right D. Facing away from the viewer while slightly to the left",
     "steps": [
         {"thought": "To determine the precise orientation of the person, I need to use GetObjectOrientation to "
                     "analyze their position.",
          "actions": [{"name": "GetObjectOrientation", "arguments": {"image": "image-0", "objects": "person"}}],
          "observation": {"results": [{"object": "person", "angle_data": {"azimuth": 315.0, "polar": 90.0,
                                                                          "rotation": 0.0, "confidence": 0.89},
                                       "error": None}]}},
         {"thought": "The person's azimuth angle is 315 degrees, which falls in the range of 292.5° < φ < 337.5°. "
                     "According to the orientation guidelines, this means the person is facing the viewer and to "
                     "the right of the viewer.",
          "actions": [{"name": "Terminate", "arguments": {"answer": "(A)"}}], "observation": {}}]},
    {"user_request": "In image-0, what is the distance between the mug and the laptop? A. 15 centimeters B. 29 "
                     "centimeters C. 45 centimeters D. 60 centimeters",
     "steps": [
         {"thought": "First, I need to determine whether the scene in image-0 is indoors or outdoors. Observing the "
                     "image, I see a desk, a mug, and a laptop in an office setting, indicating an indoor scene. "
                     "Since it is indoors, according to the instruction, I do not need to call any tools and can "
                     "directly estimate the distance.",
          "actions": [], "observation": {}},
         {"thought": "Based on the visual cues in the image, the distance between the mug and the laptop is "
                     "approximately 29 centimeters.",
          "actions": [{"name": "Terminate", "arguments": {"answer": "(B)"}}], "observation": {}}]},
    {"user_request": "In image-0, which object on the desk is larger in size? A. The mug B. It can not be decided "
                     "given the image only C. The laptop D. They seem to be of almost the same size",
     "steps": [
         {"thought": "First, I need to determine whether the scene in image-0 is indoors or outdoors. Observing the "
                     "image, I see a desk with a mug and a laptop in an office setting, indicating an indoor scene. "
                     "Since it is indoors, according to the instruction, I do not need to call any tools and can "
                     "directly estimate the relative size of the objects.",
          "actions": [], "observation": {}},
         {"thought": "Based on the visual cues in the image, the laptop is clearly larger in size compared to the mug.",
          "actions": [{"name": "Terminate", "arguments": {"answer": "(C)"}}], "observation": {}}]},
]


def _demo_text(demos: list[dict[str, Any]]) -> str:
    lines = ["[BEGIN OF EXAMPLES]"]
    for demo in demos:
        lines += ["# USER REQUEST #:", demo["user_request"], "# RESPONSE #:"]
        for step in demo["steps"]:
            lines.append(json.dumps({"thought": step["thought"], "actions": step["actions"]}, ensure_ascii=False))
            if step["observation"]:
                lines += ["OBSERVATION:", json.dumps(step["observation"], ensure_ascii=False)]
        lines.append("")
    lines.append("[END OF EXAMPLES]")
    return "\n".join(lines)


def observer_prompt(*, detail: str = "full", demos: int = 4) -> str:
    """The ReAct observer's system prompt (the paper's, with `demos` of its four examples)."""
    parts = [_OBSERVER_GOAL, "[BEGIN OF ACTIONS]\n" + toolbox_text(detail) + "\n[END OF ACTIONS]", _OBSERVER_RULES]
    if demos:
        parts.append(_demo_text(DEMOS[:demos]))
    return "\n".join(parts)


def request(question: str) -> str:
    """The user turn that opens a ReAct episode."""
    return f"# USER REQUEST #:\n{question}\nNow please generate your response:"


REACT_EXECUTOR_SUFFIX = ("The OBSERVATION can be incomplete or incorrect, so please be critical and decide how to make "
                         "use of it.\nIf you've gathered sufficient information to answer the question, call "
                         "**Terminate** with the final answer.\nNow, please generate the response for the next step.")

REACT_SUMMARIZER_PROMPT = """ALL_OBSERVATION: {ALL_OBSERVATION}
The ALL_OBSERVATION can be incomplete or incorrect, so please be critical and decide how to make use of it.
Call **Terminate** with the final answer.
Now, please generate the response for the next step."""

# ours (the reference's parse feedback, reworded): strict JSON with three repair hints, or fix / Terminate
JSON_FEEDBACK = ("Please rewrite your output as strict JSON that json.loads() can parse.\nRequirements:\n"
                 "1. Keep the content unchanged;\n2. Swap single quotes for double quotes, or the other way round, "
                 "where that is the problem;\n3. Add or remove curly brackets, or drop a trailing period, if any.")
OTHER_FEEDBACK = "Please fix this error and try again. Reply with Terminate only if you believe it cannot be fixed."


def text_only_note(n_images: int) -> str:
    """Ours: told to a model that cannot see images (the tools still read them)."""
    ids = ", ".join(f"image-{i}" for i in range(n_images))
    return (f"(You cannot see the images ({ids}) yourself: the tools read them. Rely on the tools' textual "
            "observations.)")


# ------------------------------------------------------------------------------------------- Plan-Execute

PLANNER_PROMPT = """[BEGIN OF GOAL]
Generate a JSON-formatted tool-calling plan to solve spatial understanding questions about given images or videos.
[END OF GOAL]
[BEGIN OF TOOLBOX]
{action_details}
[END OF TOOLBOX]
[BEGIN OF TASK INSTRUCTIONS]
Generate a step-by-step plan to answer the given spatial understanding question about given images or videos.
***Use ONLY the tools listed in the TOOLBOX section (e.g., GetObjectOrientation, EstimateObjectGeometryProperties, LocalizeObjects, EstimateObjectDepth)***
***Follow their argument specifications EXACTLY as defined in the toolbox, and try to give detailed and comprehensive instructions in queries.***
Do NOT invent new tools or modify the existing tool interfaces.
The plan should strictly follow what these tools can and cannot do.
[END OF TASK INSTRUCTIONS]
[BEGIN OF FORMAT INSTRUCTIONS]
You are a helpful assistant tasked with solving spatial reasoning questions. Think step by step.
***
Return a JSON list of tool calls inside ```json``` tags, where each call is a dictionary with 'name' and 'arguments'.
The 'name' MUST match exactly one of the tool names provided in the toolbox.
The 'arguments' MUST include ALL required parameters for that specific tool with EXACT parameter names.
The 'images' or 'image' argument must be specified as 'image-0', 'image-1', and 'image-2', to refer to the provided images.
Do not answer the question directly, and do not use absolute paths for the 'images' or 'image' argument.
***
[END OF FORMAT INSTRUCTIONS]
[BEGIN OF EXAMPLES]
Example for 'Which is closer to the camera, the dog or the cat?':
```json [
{"name": "LocalizeObjects", "arguments": {"image": "image-0", "objects": ["dog", "cat"]}},
{"name": "EstimateObjectDepth", "arguments": {"image": "image-0", "objects": ["dog", "cat"], "indoor_or_outdoor": "outdoor"}},
]
```
[END OF EXAMPLES]
***
Do not answer the question directly. Instead, think step-by-step, and output the tool-calling plan inside ```json``` tags.
***"""

PE_EXECUTOR_PROMPT = """[BEGIN OF GOAL]
Generate a Chain of Thought (CoT) reasoning process using the provided tool execution results.
[END OF GOAL]
[BEGIN OF TASK INSTRUCTIONS]
You are a helpful assistant tasked with solving spatial reasoning questions. Analyze the given question and tool execution results. Think step by step.
Generate a step-by-step reasoning process that shows how the tools contribute to solving the question.
Use ONLY the tools and results provided, following their specifications STRICTLY.
The results of tool calls can sometimes be incomplete or incorrect, so please be critical and decide how to make use of them.
If a tool failed, note the failure and proceed with your prior knowledge and reasoning.
Repeat for each tool result in order.
[END OF TASK INSTRUCTIONS]
[BEGIN OF FORMAT INSTRUCTIONS]
***
Output a CoT with:
- <thinking> Explain why this tool was used and how its result contributes to the answer. </thinking>
- <tool> The tool call in JSON format, e.g., {"name": "LocalizeObjects", "arguments": {"image": "image-0", "objects": ["dog", "cat"]}}. </tool>
- <observation>: The tool result as a string. </observation>
Repeat for each tool result in order.
***
[END OF FORMAT INSTRUCTIONS]
[BEGIN OF EXAMPLES]
Example for 'In image-0, which is closer to the camera, the dog or the cat?':
<thinking> To determine which object is closer to the camera, I need first localize the dog and cat in the image. </thinking>
<tool> {"name": "LocalizeObjects", "arguments": {"image": "image-0", "objects": ["dog", "cat"]}} </tool>
<observation> {"results": [{"label": "dog", "region": [0.5, 0.6, 0.6, 0.8], "confidence": 0.95}, {"label": "cat", "region": [0.4, 0.5, 0.45, 0.7], "confidence": 0.87}]} </observation>
<thinking> The bounding box for the dog is [0.5, 0.6, 0.6, 0.8], and for the cat is [0.4, 0.5, 0.45, 0.7]. Then, I need estimate the depth of them to reflect their distances to the camera. </thinking>
<tool> {"name": "EstimateObjectDepth", "arguments": {"image": "image-0", "objects": ["dog", "cat"], "indoor_or_outdoor": "outdoor"}} </tool>
<observation> {"results": [{"object": "dog", "depth": 1.0, "error": null}, {"object": "cat", "depth": 1.2, "error": null}]} </observation>
[END OF EXAMPLES]
Tool Plan: {tool_plan}
Tool Results: {tool_results}
***
**Notably, you should AVOID outputting terms like <final_thining>, <answer>, or <final_answer> here.**
**Now, output your reasoning between <thinking> and </thinking>, the tool call in JSON format between <tool> and </tool>, and the observation between <observation> and </observation>.**
***"""

_ANSWER_RULES = """For multi-choice questions, select the most appropriate answer from options based on reasoning. Respond ONLY with the capital letter and its parentheses.
For judgment questions, answer with yes or no based on reasoning. Respond ONLY with 'yes' or 'no'.
For open-ended measurement questions, answer the question by measuring the precise distance in 3D space through 2D images or videos. DO NOT use generic and unclear units like 'units' or 'pixels'.
Respond ONLY with a numeric answer consisting of a scalar and a distance unit in the format of **scalar distance_unit**.
For other questions, answer the question based on the given image or video. Respond ONLY with a concise and accurate scalar or a scalar with corresponding unit."""

_NEVER_UNDETERMINED = ("**CRITICAL: You MUST always provide a reasonable answer. Never respond with 'cannot be "
                       "determined', 'none of the above', or similar phrases.**")

PE_SUMMARIZER_PROMPT = f"""[BEGIN OF GOAL]
Generate a final REASONING and ANSWER for spatial understanding questions about given images or videos, based on tool results and prior Chain of Thought (CoT) steps.
[END OF GOAL]
[BEGIN OF TASK INSTRUCTIONS]
You are a helpful assistant tasked with solving spatial reasoning questions.
Given the question, tool execution results, and CoT steps, synthesize the information to provide a final REASONING and ANSWER.
**The results of tool calls can sometimes be incomplete or incorrect, so please be critical and decide how to make use of them.**
If tool results are unclear or contradictory, use your prior knowledge to think the problem step-by-step.
{_ANSWER_RULES}
{_NEVER_UNDETERMINED}
[END OF TASK INSTRUCTIONS]
[BEGIN OF FORMAT INSTRUCTIONS]
***
Output:
- <thinking> A complete analysis synthesizing all tool results and CoT steps to derive the answer. </thinking>
- <answer> **The final answer** </answer>
***
[END OF FORMAT INSTRUCTIONS]
CoT Steps: {{cot_steps}}
***
{_NEVER_UNDETERMINED}
Now, output **your thinking** between <thinking> and </thinking>, and **your answer** between <answer> and </answer>.
***"""

FALLBACK_PROMPT = f"""[BEGIN OF GOAL]
Provide a direct ANSWER to a spatial understanding question about given 2D images or videos without external tools.
[END OF GOAL]
[BEGIN OF TASK INSTRUCTIONS]
You are a helpful assistant tasked with solving spatial reasoning questions. Think step by step.
Answer the spatial understanding question by reasoning about the provided images or videos.
Provide a direct answer by reasoning logically based on typical spatial relationships and visual cues in the images or videos.
{_NEVER_UNDETERMINED}
***
{_ANSWER_RULES}
***
[END OF TASK INSTRUCTIONS]
[BEGIN OF FORMAT INSTRUCTIONS]
***
Output your response in the format:
<thinking> [Your reasoning here] </thinking>
<answer> [Your final answer] </answer>
***
[END OF FORMAT INSTRUCTIONS]
***
{_NEVER_UNDETERMINED}
Now, output **your thinking** between <thinking> and </thinking>, and **your answer** between <answer> and </answer>.
***"""
