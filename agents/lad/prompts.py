"""LAD's prompts, in English and Chinese.

Stages I–III (description, keywords, search questions, Self-Judge, ModelSearch, ranker, summarizer,
open answer, MCQ) and the OSQ judge use the wording of the LAD reference notebook (`LAD_code.ipynb`,
MING-ZCH/Let-Androids-Dream-of-Electric-Sheep, MIT License, Copyright (c) 2025 MING_X). Two
changes, both marked "ours": the ranker answers with a JSON object of its top-3 question numbers
and reasons (the reference's regex recovery of echoed questions is fragile, spec §2), and the MCQ
prompt lists the letters A–F where the reference's template kept a literal "$LETTER".

The WebSearch planner and searcher prompts are ours: MindSearch's (which LAD-WebSearch adapts) ask
for code run in a Jupyter kernel and for lagent plug-in calls; here the planner's code is read, never
run, and the searcher's steps are fixed (spec §1 step 6, Algorithm 1), so the prompts say what is
asked, in that order, in our words.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]

# ------------------------------------------------------------------------------------ Stage I

DESCRIBE = {
    "en": ("Please provide a description of the image in a paragraph. You should consider the role, text, color, "
           "and layout of the image. Focus on the text and important elements in the image. Try to be concise "
           "while ensuring the correctness of the description."),
    "zh": "请结合中文文化背景，用一段话描述图片。你应该考虑图片中的角色、文字、颜色和布局。重点关注文字和图片中的重要元素。尽量简洁，同时确保描述的准确性。",
}

# ours: what a text-only describer gets in place of the image (the offline report follows)
OFFLINE_NOTE = {
    "en": ("You cannot see the image. Below is what local OCR and OpenCV measured in it; describe the image from "
           "that, without inventing details it does not support."),
    "zh": "你看不到这张图片。下面是本地 OCR 和 OpenCV 从图片中读取和测量到的信息；请据此描述图片，不要编造信息中没有的细节。",
}
NO_IMAGE = {"en": "(This task has no image; its text is: {text})", "zh": "（此任务没有图片，其文字为：{text}）"}

KEYWORDS = {
    "en": ("Please provide seven keywords most related to the metaphor based on the image description. You should "
           "consider the emotion, domain, and rhetoric in the image description. Focus on the image’s text and "
           "important entities in the image description. Note that there may be homophonic memes and puns, "
           "distinguish and provide them but do not repeat the same element. Take a deep breath and think step by "
           "step, only output the keywords.\nImage description: {description}"),
    "zh": ("请结合中文文化语境，根据图片描述提供七个与隐喻最相关的关键词。你应该考虑图片描述中的情感、领域和修辞手法。重点关注图片描述中的图片文字和重要实体。"
           "请注意，可能存在谐音梗和双关语，请识别并提供它们，但不要重复相同的元素。深呼吸并一步步思考，仅输出关键词。\n图片描述：{description}"),
}

# ------------------------------------------------------------------------------------ Stage II

QUESTIONS = {
    "en": """# Role
You are a researcher familiar with internet culture and memes, skilled at uncovering and analyzing the deeper meanings of internet memes.
## Attention
Your responsibility is to design precise search questions based on keywords that can accurately retrieve meme culture or image metaphors.

## Skills
### Skill 1: Internet Search Skills
- Analyze the provided keywords and select the most relevant ones, understanding their potential meanings and applications in metaphorical culture

### Skill 2: Cultural Analysis
- Deeply explore the background and history of keywords in internet culture, through information organization and analysis, to uncover the deeper meanings behind the keywords

### Skill 3: Metaphor Comprehension
- Understand and analyze the metaphorical meanings of keywords in images, to better comprehend the cultural background of meme images

## Workflow:
1. Analyze the provided keywords and select the most relevant ones, understanding their potential meanings and applications in metaphorical culture.
2. Design specific and targeted search questions to improve the accuracy of the search.
3. Ensure that the search questions can guide users to find cultural backgrounds or metaphorical explanations related to the meme images.

## Constraints
- Search questions should focus on meme culture or image metaphors, avoiding overly broad or irrelevant search results
- Search questions should consider keyword combinations, avoiding single keyword searches as much as possible
- The total number of search questions should be 5, please design the most relevant questions

## Example:
Input:
\"\"\"
Keywords: irony, environmental protection, waste, contrast, empty slogans, lack of action, inconsistency between words and deeds
\"\"\"
Output:
\"\"\"
1. "What are the specific manifestations of the inconsistency between environmental protection slogans and actual actions? "

2. "What is the profound connotation of the popular Internet pictures comparing environmental protection and waste? "

3. "Dual information pictures satirizing environmental protection slogans and lack of action? "

4. "Ironic contrast pictures of the contradiction between slogans and actual actions in environmental protection themes? "

5. "How do Internet pictures show the ironic contrast between environmental protection slogans and wasteful behavior? "
\"\"\"

## Solve:
keywords: {keywords}""",
    "zh": """# Role
你是一位熟悉网络文化和梗的研究员，擅长挖掘和解析网络梗的深层含义。
## Attention
你负责基于关键词，设计出能够精确检索到梗文化或图片隐喻的检索问题。

## Skills
### Skill 1: 网络搜索技能
- 能够分析提供的关键词并选择最相关的关键词，理解其在隐喻文化中可能的含义和应用

### Skill 2: 文化分析
- 能够深入挖掘关键词在网络文化中的背景和历史，通过信息整理和分析，找出关键词背后的深层含义

### Skill 3: 隐喻理解
- 能够理解和分析关键词在图片中的隐喻意义，更好地理解梗图的文化背景

## Workflow:
1. 分析提供的关键词并选择最相关的关键词，理解其在隐喻文化中可能的含义和应用。
2. 设计具体且有针对性的检索问题，以提高搜索的精确度。
3. 确保检索问题能够引导用户找到与梗图相关的文化背景或隐喻解释。

## Constraints
- 检索问题需要围绕梗文化或图片隐喻，避免过于广泛或不相关的搜索结果
- 检索问题需要考虑关键词的组合，尽量避免单一关键词检索
- 检索问题总数为5个，请设计最相关的问题

## Example:
输入：
\"\"\"
关键词：讽刺，环保，浪费，对比，空喊口号，行动缺失，言行不一致
\"\"\"
输出：
\"\"\"
1. "环保口号与实际行动不符的具体表现？"

2. "网络上流行的环保与浪费对比梗图的深刻内涵？"

3. "讽刺环保口号与行动缺失的双重信息图片？"

4. "环保主题中口号与实际行为矛盾的讽刺性对比图？"

5. "网络梗图如何展现环保口号与浪费行为的讽刺对比？"
\"\"\"

## Solve:
关键词：{keywords}""",
}

SELF_JUDGE = {
    "en": """# Task
Please evaluate your knowledge level, determine whether the question is suitable for direct answering or requires external knowledge support, and provide a confidence score according to the Evaluation Standard.

## Evaluation Standard
- If the question contains Internet culture and meme culture, the confidence score is less than 3
- If the knowledge contained in the question is highly popular, the confidence score is less than 3
- If the real-time content contained in the question accounts for a large proportion, the confidence score is less than 3
- If the entity contained in the question is relatively niche, the confidence score is less than 3
- If the question contains more than 2 entities, the confidence score is less than 3

## Workflow:
1. <Implicitly> Analyze the content of the question and identify whether it contains Internet culture and meme culture elements.
2. <Implicitly> Evaluate the popularity of the question and the proportion of real-time content.
3. According to the scoring criteria, <Explicitly> provide a confidence score and decision.

## Constraints
- The confidence score must be between 1 and 5. If the score is bigger than 3, select ModelSearch. If the score is smaller than or equal to 3, select WebSearch.

## OutputFormat:
[Confidence score (1-5 points), Decision (ModelSearch/WebSearch)]

## Solve:
Question: {question}""",
    "zh": """# Task
请自我评估知识水平，判断问题是否适合直接回答或需要外部知识支持，并根据评分准则提供置信度分数。

## Evaluation Standard
- 若问题中包含网络文化和梗文化，则置信度分数小于3
- 若问题中包含的知识流行度较高，则置信度分数小于3
- 若问题中包含的实时性内容占比多，则置信度分数小于3
- 若问题中包含的实体相对小众，则置信度分数小于3
- 若问题中包含的实体多于2个，则置信度分数小于3

## Workflow:
  1. <隐式>分析问题内容，识别是否包含网络文化和梗文化元素。
  2. <隐式>评估问题的流行度和实时性内容占比。
  3. 根据评分准则，<显示>提供置信度分数和决策。

## Constraints
- 置信度分数必须在1-5分，分数大于3时选择ModelSearch，分数小于等于3时选择WebSearch

## OutputFormat:
[置信度分数(1-5分), 决策(ModelSearch/WebSearch)]

## Solve:
问题：{question}""",
}

MODEL_SEARCH = {
    "en": """# Role
You are a researcher familiar with internet culture and memes, skilled at uncovering and analyzing the deeper meanings of internet memes.
## Attention
You are responsible for providing clear, professional and comprehensive explanations of Internet memes and image metaphors based on Internet culture and meme culture, helping users understand the cultural meaning and social impact behind them.

## Skills
### Skill 1: Metaphor Understanding
- Ability to accurately identify the memes or metaphors involved in the picture based on picture analysis, and be able to extract the deep meaning

### Skill 2: Internet Culture Analysis
- Ability to analyze the origin, development and current popularity of memes or image metaphors, so that users can better understand the cultural background of memes

### Skill 3: Providing Explanations
- Ability to provide users with clear and professional explanations of the cultural meaning and social impact behind memes or image metaphors
- Ability to provide structured and easy-to-understand answers

## Workflow:
1. Identify the meme or picture metaphor involved in the question raised by the user.
2. Analyze the origin, development and current popularity of the meme or picture metaphor.
3. Explain the cultural meaning and social impact behind the meme or picture metaphor.
4. Provide a structured and easy-to-understand answer.

## Constraints
- The answer content needs to be logically clear and well-structured to ensure that readers can understand it easily
- The answer content needs to focus on the meme culture or picture metaphor
- The answer part needs to be comprehensive and complete, and there should be no vague expressions such as "based on the above content" to ensure the credibility of the information
- The language style needs to be professional and rigorous, and avoid colloquial expressions
- Maintain uniform grammar and vocabulary to ensure the consistency and coherence of the overall document

## Solve:
Question: {question}""",
    "zh": """# Role
你是一位熟悉网络文化和梗的研究员，擅长挖掘和解析网络梗的深层含义。
## Attention
你负责基于网络文化和梗文化的问题，提供关于网络梗和图片隐喻的清晰、专业、全面的解释，帮助用户理解其背后的文化含义和社会影响。

## Skills
### Skill 1: 隐喻理解
- 能够根据图片分析准确识别图片中涉及的梗或隐喻，并能提取深层含义

### Skill 2: 网络文化分析
- 能够识别经典影视角色、经典影视桥段并分析梗文化或图片隐喻的起源、发展和当前流行状态，让用户更好地理解梗图的文化背景

### Skill 3: 提供解释
- 能够为用户提供清晰、专业的解释，解释梗或图片隐喻背后的文化含义和社会影响
- 能够提供结构化的、易于理解的回答

## Workflow:
1. 确定用户提出的问题中涉及的梗或图片隐喻。
2. 分析梗或图片隐喻的起源、发展和当前流行状态。
3. 解释梗或图片隐喻背后的文化含义和社会影响。
4. 提供结构化的、易于理解的回答。

## Constraints
- 回答内容需要逻辑清晰，层次分明，确保读者易于理解
- 回答内容需要围绕梗文化或图片隐喻
- 回答部分需要全面且完备，不要出现"基于上述内容"等模糊表达，确保信息的可信度
- 语言风格需要专业、严谨，避免口语化表达
- 保持统一的语法和词汇使用，确保整体文档的一致性和连贯性

## Solve:
问题：{question}""",
}

QA_BLOCK = {"en": 'Question {i}: {question}\nAnswer: """{answer}"""\n', "zh": '问题{i}：{question}\n回答："""{answer}"""\n'}

RANK = {
    "en": """# Role
You are a researcher familiar with Internet culture and memes, and are good at extracting deep meanings from images, and matching and sorting these meanings with relevant questions and summaries.
## Attention
You are responsible for sorting the relevance of multiple question-summary pairs based on the image description, and selecting the three most relevant ones to help users understand the deep meaning of the image.

## Skills
### Skill 1: Image Analysis
- Ability to conduct a comprehensive analysis based on the user's description of the image

### Skill 2: Metaphor Understanding
- Ability to accurately identify metaphors in images based on image analysis and extract deep meaning

### Skill 3: Relevance Sorting
- Ability to sort the relevance of question-summary pairs based on the metaphorical understanding of the image, based on whether the content of the question-summary pair is related to the image metaphor
- Ability to provide reasons for the corresponding relevance sorting, and analyze the low-relevance content of the question-summary pair

## Workflow:
1. Carefully analyze the image description and <implicitly> extract the metaphors and key elements in the image.
2. Analyze each question-summary pair and <implicitly> evaluate its relevance to the image metaphor.
3. According to the relevance, <implicitly> sort the question-summary pairs.
4. <display> Output the top 3 most relevant question-summary pairs after sorting and the reasons for sorting.

## Constraints
- Sorting should be based on the relevance of the image metaphor to ensure the accuracy and logic of the sorting results
- If a part of the question-summary pair is not related to the image metaphor, please provide it in the corresponding reason
- Only output a JSON object with the numbers of the 3 most relevant questions, most relevant first, and the reasons for sorting, in this form: {{"top3": [{{"question": 2, "reason": "..."}}, {{"question": 5, "reason": "..."}}, {{"question": 1, "reason": "..."}}]}}

## Solve:
Image Description: {description}
Question-Summary Pair: {pairs}""",
    "zh": """# Role
你是一位熟悉网络文化和梗的研究员，擅长从图像中提取深层含义，并将这些含义与相关的问题和总结进行匹配和排序。
## Attention
你负责根据图片描述，对多个问题-总结对进行相关性排序，并选择最相关的3个，帮助用户理解图片的深层含义。

## Skills
### Skill 1: 图片分析
- 能够根据用户对图片的描述进行全面分析

### Skill 2: 隐喻理解
- 能够根据图片分析准确识别图片中的隐喻，并能提取深层含义

### Skill 3: 相关性排序
- 能够根据图片的隐喻理解，针对问题-总结对的内容是否与图片隐喻相关，对问题-总结对进行相关性排序
- 能够提供对应相关性排序理由，并分析该问题-总结对中低相关内容

## Workflow:
  1. 仔细分析图片描述，<隐式>提取图片中的隐喻和关键元素。
  2. 对每个问题-总结对进行分析，<隐式>评估其与图片隐喻的相关性。
  3. 根据相关性大小，<隐式>对问题-总结对进行排序。
  4. <显示>输出排序后最相关的3个问题-总结对和排序理由。

## Constraints
- 排序应基于图片隐喻的相关性，确保排序结果的准确性和逻辑性
- 若问题-总结对中某部分与图片隐喻无关，请在对应理由中提供
- 仅输出一个 JSON 对象，按相关性从高到低给出最相关的3个问题的编号和排序理由，格式为：{{"top3": [{{"question": 2, "reason": "..."}}, {{"question": 5, "reason": "..."}}, {{"question": 1, "reason": "..."}}]}}

## Solve:
图片描述：{description}
问题-总结对：{pairs}""",
}

SUMMARIZE = {
    "en": """# Role
You are a researcher familiar with Internet culture and memes, and are good at rewriting the selected "question-summary pairs" according to the relevance sorting reasons to improve the appeal of the content and the accuracy of the information.
## Attention
You are responsible for rewriting the selected "question-summary pairs" according to the relevance ranking reasons, removing repeated semantics, parts with low relevance to Internet culture and meme culture, and removing markdown and citation formatting symbols, and finally outputting a fused and rewritten content.
## Skills
### Skill 1: Internet Culture Insight
- Able to deeply understand classic film and television characters, classic film and television plots and meme culture, and accurately grasp network hot spots and popular trends

### Skill 2: Content Analysis and Rewriting
- Able to conduct detailed analysis of "question-summary pairs" and identify the relevance to Internet culture and meme culture
- Able to creatively rewrite content based on analysis results to improve the accuracy and attractiveness of information

### Skill 3: Format Recognition and Processing
- Able to identify and remove markdown and reference format symbols to ensure the simplicity and readability of output content
- Able to integrate rewritten content and connect it with appropriate transition sentences to form a coherent and fluent article

## Workflow:
1. Read and understand the relevance sorting results and all "question-summary pairs" provided by the user.
2. Based on the selection reasons, analyze the relevance of each "question-summary pair" to Internet culture and meme culture.
3. Rewrite the selected 3 "question-summary pairs", remove repeated semantics, low relevance parts, and format symbols.
4. Integrate the rewritten content, connect it with appropriate transition sentences to form a coherent and fluent article.

## Constraints
- The rewritten content should maintain the original meaning and should not change the original information and viewpoints
- The language should be concise, clear, easy to understand, and related to the image metaphor
- Do not use any form of markdown and reference format symbols

## Solve:
Relevance Sorting Results: {ranking}
Most Relevant Question-Summary Pair: {pairs}""",
    "zh": """# Role
你是一位熟悉网络文化和梗的研究员，擅长根据相关性排序理由，对选定的“问题-总结对”进行改写，以提高内容的吸引力和信息的准确性。
## Attention
你负责根据相关性排序理由，对选定的“问题-总结对”进行改写，去掉重复语意、与网络文化和梗文化相关度低的部分，以及去除markdown和引用格式符，最终输出一篇融合并改写后的内容。

## Skills
### Skill 1: 网络文化洞察
- 能够深入理解经典影视角色、经典影视桥段和梗文化，准确把握网络热点和流行趋势

### Skill 2: 内容分析与改写
- 能够对“问题-总结对”进行细致分析，识别与网络文化和梗文化的相关性
- 能够根据分析结果，对内容进行创造性改写，提高信息的准确性和吸引力

### Skill 3: 格式识别与处理
- 能够识别并去除markdown和引用格式符，确保输出内容的简洁性和易读性
- 能够整合改写后的内容，用适当的过渡语句连接，形成一篇连贯、流畅的文章

## Workflow:
1. 阅读并理解用户提供的相关性排序理由和选定的“问题-总结对”。
2. 根据排序理由，分析每个“问题-总结对”与网络文化和梗文化的关联度。
3. 对选定的3个“问题-总结对”进行改写，去掉重复语意、相关度低的部分，以及去除格式符。
4. 将改写后的内容进行整合，用适当的过渡语句连接，形成一篇连贯、流畅的文章。

## Constraints
- 改写后的内容应保持原意，不得改变原有的信息和观点
- 语言应简洁明了且易于理解，与图片隐喻相关
- 不得使用任何形式的markdown和引用格式符

## Solve:
相关性排序结果：{ranking}
最相关的问题-总结对：{pairs}""",
}

# ------------------------------------------------------------------------------------ WebSearch (ours)

PLANNER = {
    "en": """You break a question into single-fact sub-questions that a web search can answer, and build a search graph step by step with this Python API (write the calls; they are read, not executed):

graph.add_root_node(node_content, node_name="root")   # the question itself
graph.add_node(node_name, node_content)               # a sub-question; it is searched and its answer shown to you
graph.add_edge(start_node, end_node)                  # which question a sub-question helps answer
graph.add_response_node(node_name="response")         # you have enough: the final answer is written next

Rules: each sub-question asks about one person, event, object, time, place or piece of knowledge; sub-questions without dependencies are added in the same step and searched at the same time; never repeat a question; never invent search results; write one ```python block per reply; add the response node alone, in its own reply, once the answers suffice. Focus on meme culture and image metaphors.""",
    "zh": """你把一个问题拆成可以通过网络搜索回答的单一子问题，并用下面的 Python 接口一步步构建搜索图（写出调用即可；这些调用只会被读取，不会被执行）：

graph.add_root_node(node_content, node_name="root")   # 原问题
graph.add_node(node_name, node_content)               # 子问题；它会被搜索，答案会返回给你
graph.add_edge(start_node, end_node)                  # 子问题服务于哪个问题
graph.add_response_node(node_name="response")         # 信息已足够，接下来撰写最终回答

规则：每个子问题只问一个人、事、物、时间、地点或知识点；互不依赖的子问题在同一步中添加，会同时搜索；不要重复提问；不要编造搜索结果；每次回复只写一个 ```python 代码块；信息足够时单独回复一次，只添加 response 节点。问题拆分需围绕梗文化或图片隐喻。""",
}
PLANNER_RESULTS = {"en": "Search results of the new nodes:\n{results}", "zh": "新节点的搜索结果：\n{results}"}
PLANNER_ERROR = {
    "en": "Your graph code could not be read: {error}. Write one ```python block with graph.add_node / graph.add_edge / graph.add_response_node calls on literal strings.",
    "zh": "无法读取你的搜索图代码：{error}。请只写一个 ```python 代码块，用字面字符串调用 graph.add_node / graph.add_edge / graph.add_response_node。",
}
FINAL_RESPONSE = {
    "en": """Question: {question}

Question-answer pairs from the search:
{pairs}

Based on these question-answer pairs, write a detailed and complete final answer to the question: logically clear and well structured, focused on meme culture or image metaphors, each key point marked with the sources it comes from as [[id]] (the ids used in the pairs), without vague phrases such as "based on the above", without repeating the pairs, in a professional and rigorous style.""",
    "zh": """问题：{question}

搜索得到的问答对：
{pairs}

请基于这些问答对，为问题撰写一篇详细完备的最终回答：逻辑清晰、层次分明，围绕梗文化或图片隐喻，每个关键点用 [[id]] 标注来源（与问答对中的索引一致），不要出现“基于上述内容”等模糊表达，不要复述问答对，语言专业严谨。""",
}
SEARCHER_HEAD = {
    "en": "## Final question\n{topic}\n## Current question\n{question}\n{history}",
    "zh": "## 主问题\n{topic}\n## 当前问题\n{question}\n{history}",
}
SEARCHER_HISTORY = {"en": "## Earlier question\n{question}\nAnswer: {answer}\n", "zh": "## 历史问题\n{question}\n回答：{answer}\n"}
SEARCHER_QUERIES = {
    "en": "Write up to 3 web search queries (keywords, not sentences) that would find pages answering the current question, one per line, nothing else.",
    "zh": "请写出最多 3 条网络搜索关键词（关键词而非句子），用于找到能回答当前问题的网页，每行一条，不要输出其他内容。",
}
SEARCHER_SELECT = {
    "en": "Search results:\n{hits}\n\nWhich pages should be read to answer the current question? Reply with a JSON list of their ids, most useful first, at most 3.",
    "zh": "搜索结果：\n{hits}\n\n为回答当前问题，应该阅读哪些网页？请用 JSON 列表给出它们的 id，最有用的在前，最多 3 个。",
}
SEARCHER_ANSWER = {
    "en": "Pages:\n{pages}\n\nAnswer the current question from these pages in a detailed and complete reply, focused on meme culture or image metaphors. Mark each key point with its source as [[id]].",
    "zh": "网页内容：\n{pages}\n\n请根据这些网页，详细完备地回答当前问题，围绕梗文化或图片隐喻。每个关键点用 [[id]] 标注来源。",
}

# ------------------------------------------------------------------------------------ Stage III

CONTEXT = {
    "en": "Image description: {description}; \nKeywords: {keywords}; \nKeywords description: {summary};\n",
    "zh": "图片描述：{description}；\n关键词：{keywords}；\n关键词描述：{summary}；\n",
}
OPEN_LAD = {
    "en": ("Please combine the image, keywords, and description information and try to understand the deep meaning of "
           "the combination of the image and text. No need to describe images and text, only answer metaphors. Ensure "
           "the accuracy of the answer and try to be concise as much as possible."),
    "zh": "请结合以上图片、图片关键词和描述信息，尽可能分析理解图文结合的深层含义。无需描述图文，仅回答图片隐喻。请保证回答的准确性并尽量简洁。",
}
MCQ_LAD = {
    "en": ("Please combine the image, keywords, and description information and try to understand the deep meaning of "
           "the combination of the image and text. Answer the following multiple-choice questions with the correct "
           "option {letters} directly. Output the thinking process in <think> </think> and final correct answer in "
           "<answer> </answer> tags. The output format should be as follows: <think>...</think> <answer>...</answer> "
           "\n\nMultiple-choice questions: {mcq}\nAnswer:"),
    "zh": ("请结合以上图片、图片关键词和描述信息，尽可能分析理解图文结合的深层含义，回答以下单选题。直接回答正确选项 {letters}。"
           "输出思考过程在 <think> </think> 标签中和最终正确答案在 <answer> </answer> 标签中。"
           "输出格式：<think>...</think> <answer>...</answer> \n\n单选题：{mcq}\n答案："),
}
MCQ_BODY = {"en": "Question: {question}\nOptions: {options}", "zh": "问题：{question}\n选项：{options}"}

# the reasoning ablations (Table 2): no CoT and standard CoT — ours, the paper publishes neither prompt
OSQ_QUESTION = {"en": "What is the implication in this image?", "zh": "这张图片有什么隐喻？"}
PLAIN_MCQ = {
    "en": "{mcq}\nAnswer with the option's letter from the given choices directly, in <answer> </answer> tags.",
    "zh": "{mcq}\n请直接给出正确选项的字母，写在 <answer> </answer> 标签中。",
}
COT_CUE = {"en": "Let's think step by step.", "zh": "让我们一步一步地思考。"}
COT_MCQ = {
    "en": ("{mcq}\nLet's think step by step. Output the thinking process in <think> </think> and final correct "
           "answer in <answer> </answer> tags."),
    "zh": "{mcq}\n让我们一步一步地思考。输出思考过程在 <think> </think> 标签中和最终正确答案在 <answer> </answer> 标签中。",
}
