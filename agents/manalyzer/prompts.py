"""Manalyzer's prompts, in our own words.

The paper (arXiv 2505.20310) publishes no prompt text; the only source is the reference repository
(black-yt/Manalyzer), which carries no licence. So these prompts ask what its prompts ask, in the
same order and with the same output formats, but are worded afresh. `{field}` is the expert
field, `{topic}` the topic of interest.
"""

from __future__ import annotations

# 1. PaperCollector -----------------------------------------------------------------------------

KEYWORDS_SYSTEM = """You are a researcher in {field} who plans literature searches for systematic reviews.
Given a research topic, propose search keywords grouped by concept:
1. identify the topic's core concepts and the sub-fields around them;
2. add technical terms, synonyms and alternative phrasings;
3. add broader and narrower terms so the search is neither too narrow nor too wide;
4. put closely related terms in the same group, the most central term first.
Give 15 to 30 keywords in total, in standard academic terminology.
Reply with a Python list of lists of strings only, e.g.
[["term A", "synonym of A"], ["term B", "narrower B"], ["term C"]]"""

KEYWORDS_QUERY = """Research topic:
{topic}"""

# 3. PaperReviewer --------------------------------------------------------------------------------

INDEPENDENT_SYSTEM = """You review papers in {field} for a meta-analysis. Read the paper and rate it on two dimensions,
each an integer from 1 to 10; a paper that does not meet the user's requirements gets low scores.

Topic Relevance
- 1-2: unrelated to what the user needs;
- 3-4: same field as the topic, but no direct connection;
- 5-6: related to the topic, but misses specific requirements (time, place, method);
- 7-8: closely related and meets most requirements;
- 9-10: strongly related and meets every requirement.

Feasibility
- 1-2: no experiments or data behind the paper;
- 3-4: little experimental or data support;
- 5-6: some experiments and data, but incomplete;
- 7-8: enough experiments and data to be reproducible;
- 9-10: complete experiments and data, with details, usable as a basis for further work."""

INDEPENDENT_QUERY = """Topic of interest: {topic}

<paper>
{paper}
</paper>

Reply with only a dictionary of integer scores, e.g. {{'Topic Relevance': 7, 'Feasibility': 6}}"""

COMPARATIVE_SYSTEM = """You are an expert in {field} screening literature. For each paper below, judge how relevant it
is to the user's topic of interest, as a real number between 0 (unrelated) and 1 (highly relevant).
Respect every requirement stated in the topic (place, time, method ...). Compare the papers with each
other. Reply with only a list holding one number per paper, in order, e.g. [0.9, 0.2, 0.6]"""

COMPARATIVE_QUERY = """Topic of interest: {topic}

{papers}
There are {n} papers above. Reply with a list of exactly {n} numbers between 0 and 1, nothing else."""

# 4. TableProcessor (vision) ----------------------------------------------------------------------

CONVERT_TABLE_SYSTEM = """You are an expert in {field} and transcribe tables from paper images into markdown.
Rules:
1. keep every value and its unit exactly as printed;
2. keep the table's layout;
3. transcribe several tables in one image separately;
4. give each table a title saying what it holds;
5. give each table a footnote naming every row and column in full."""

CONVERT_CHART_SYSTEM = """You are an expert in {field} and turn charts from paper images into markdown tables.
Rules:
1. read every value with its unit;
2. turn several charts in one image into separate tables;
3. list every series of a chart in its table;
4. give each table a title saying what it holds;
5. give each table a footnote naming every row and column in full.
If the image cannot be turned into a table, describe what it shows as numbered points ("1. ...")
instead, with no other text."""

CONVERT_QUERY = """This image is a {kind} from a paper. Convert it.
{caption}{footnote}{context}
Reply with the table in a ```markdown fenced block, then its title and its footnote."""

# 5. DataExtractorWithChecker ---------------------------------------------------------------------

LEVEL1_SYSTEM = """You are an expert in {field}. You will see several numbered {kind}s of a paper and judge, for each
one, whether it holds data on the topic of interest.
1. Score each numbered {kind} as a whole, on a scale from 0 (no relevant data) to 1 (highly relevant);
   give exactly one score per numbered {kind}.
2. Score above 0.5 whenever any part of a {kind} holds relevant data, however small that part is:
   missing data is worse than including too much.
3. Reply with only the list of scores, e.g. [0.8, 0.1, 0.7]"""

LEVEL1_QUERY = """Topic of interest: {topic}

{parts}
Reply with a list of exactly {n} numbers between 0 and 1: does each {kind} above hold data on the topic?"""

LEVEL2_SYSTEM = """You are an expert in {field} who reorganises the data of a paper's {kind}s into one table.
Put ALL the data of the {kind}s below into a single integrated table that follows the user's template:
- carry over every number of every {kind}: every row, column and cell, every statistic (mean, min, max,
  range ...), every case (season, year, site ...), repeated values included - do not select;
- write NaN where a value is missing; rows may be incomplete;
- write each number as a plain integer or decimal, without symbols such as ±, <, >, ~, =, + or brackets;
- give exactly one table, in a ```markdown fenced block, with the template's columns (not its example rows).
After the table, explain where every number comes from: the {kind}, its row and its column."""

LEVEL2_QUERY = """Topic of interest: {topic}
Template of the integrated table:
```markdown
{template}
```

{parts}
Convert all the data of the {kind}s above into the integrated table, following the template, then explain the
source of each number, for example:
```markdown
| Column 1 | Column 2 |
|----------|----------|
| 10.5     | 20.3     |
| 15.2     | NaN      |
```
Sources:
1. 10.5: {kind} 2, row 3, column 2.
2. 20.3: {kind} 4, row 5, column 1."""

REVISE_QUERY = """
A previous answer to this task and a reviewer's suggestion follow. Improve the previous answer so that it meets
every instruction above, taking the suggestion into account.
<previous_answer>
{previous}
</previous_answer>
<suggestion>
{suggestion}
</suggestion>"""

CHECK_SYSTEM = """You are an expert in {field} and check a student's work: the student was asked to move ALL the data of
some paper parts into one integrated table. Duplicates and NaN cells are expected and are not errors; what
matters is that as much of the relevant source data as possible was carried over, correctly.
Score three dimensions from 1 to 10, each on its own:
1. Data Accuracy - the numbers equal those in the sources;
2. Semantic Consistency - each number keeps its meaning from the source;
3. Data Completeness - as much relevant source data as possible was included; for a large omission, say
   exactly where the missing data is.
Then give an Overall Score from 1 to 10 built from the three (the lowest score for an empty table), and a
Suggestion: concrete steps starting "You should ...", naming where the missing or doubtful data is
(e.g. "column 3 of table 2", "rows 5-10 of table 1")."""

CHECK_QUERY = """<task>
{task}
</task>

<student_table>
{table}
</student_table>

<student_explanation>
{explanation}
</student_explanation>

Reply with only a dictionary with integer scores and a suggestion, e.g.
{{'Data Accuracy': 9, 'Semantic Consistency': 7, 'Data Completeness': 5, 'Overall Score': 6,
 'Suggestion': "You should add column 3 of table 2, which is missing."}}"""

# 6. DataMerger -------------------------------------------------------------------------------------

NORMALIZE_SYSTEM = """You clean the numeric fields of a list of records (Python dicts) so that each can be read by float().
Rules for numeric fields:
- drop thousands separators ("1,000" -> 1000);
- turn percentages into fractions ("35%" -> 0.35);
- replace a range by its midpoint ("10-15" -> 12.5);
- replace a field holding several numbers by their mean;
- write "None" for anything that is not a number (e.g. "n.d.", "declined", an empty string, text with numbers).
Leave text fields and every key exactly as they are. Return the complete list - the same number of records,
in the same order, with the same keys - and nothing else."""

NORMALIZE_QUERY = """Numeric fields: {numeric}
<records>
{records}
</records>
Return the {n} cleaned records as a list of dicts."""

# 7. DataAnalyst --------------------------------------------------------------------------------------

ANALYST_SYSTEM = "You are an expert in {field}, skilled at data analysis and visualisation. Write the code the user asks for."

ANALYST_QUERY = """We have a pandas DataFrame `data`; data.head() is:
{head}

These are already imported; use any of them:
{imports}

Write three functions, clustering(data), classification(data) and regression(data), each analysing the data
with a model of that kind and drawing one matplotlib figure:
1. do not call plt.savefig() or plt.show() - the figure is saved for you;
2. give each figure a plt.title() that says in one sentence what the axes and curves mean, with line breaks
   so that it fits;
3. end every function with return.
Reply with the code in one ```python block."""

ANALYST_RETRY = """
Your previous code:
```python
{code}
```
failed:
{errors}
Try a different way of analysing and visualising the data."""

ANALYST_IMPORTS = """import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression, LinearRegression, Ridge, Lasso
from sklearn.svm import SVC, SVR
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.cluster import KMeans, DBSCAN, AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import confusion_matrix, classification_report, accuracy_score, mean_squared_error, r2_score
from sklearn.preprocessing import StandardScaler, MinMaxScaler, OneHotEncoder
from sklearn.impute import SimpleImputer"""

# 8. Reporter -------------------------------------------------------------------------------------------

REPORT_SYSTEM = """You are a senior meta-analysis expert in {field}. Write the discussion part of a meta-analysis report in
markdown, from the user's data, the statistics computed for you and the figures. Quote the computed
statistics exactly as given (pooled effect, confidence interval, I², tau², Q); never invent a number
that is not in the data or the statistics. Cover: the main finding, heterogeneity, what the figures
show, publication bias (funnel plot), limitations of the included studies and the certainty of the
evidence (GRADE). Refer to figures as ![caption](path) with the paths given."""

REPORT_QUERY = """Topic of interest: {topic}

<data>
{data}
</data>

<computed_statistics>
{statistics}
</computed_statistics>

<figures>
{figures}
</figures>

<references>
{references}
</references>

Write the report's discussion:"""
