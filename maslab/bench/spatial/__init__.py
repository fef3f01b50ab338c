"""SpatialScore (arXiv 2505.17012) as a benchmark plug-in (entry point `maslab.benchmarks: spatial`).

Importing it registers

* the `spatial` scorer (`scoring`: option letters, yes/no, values with units by the ratio rule,
  Mean Relative Accuracy, exact numbers);
* the `spatialscore` file dataset (`records`: v0's JSON list and v3's JSON lines, for users who
  have the data and its images);
* the `spatial_synthetic` generator (`synthetic`: seeded renderings — homography, camera motion,
  metric and relative depth, counting, judgments, 3-D distance — labelled synthetic, with the
  fixture metadata the oracle tools read).

The toolbox is `maslab.tools.spatial`, the agent the `spatial_agent` system; neither imports this.
"""

from maslab.bench.spatial import records, scoring, synthetic

__all__ = ["records", "scoring", "synthetic"]
