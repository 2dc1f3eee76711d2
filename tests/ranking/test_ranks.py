"""Hand-checkable rankings: two and three teams, ties, directions from the metric specs."""

from __future__ import annotations

import numpy as np
import pytest

from crossmoda.ranking.ranks import (
    aggregate_then_rank,
    min_rank,
    rank_then_aggregate,
    site_of,
    variant_tables,
)
from tests.ranking.conftest import make_table


def test_min_rank_ties_share_minimum() -> None:
    assert min_rank([3.0, 1.0, 3.0, 2.0]).tolist() == [3, 1, 3, 2]
    assert min_rank([[1.0, 1.0], [0.0, 2.0]], axis=1).tolist() == [[1, 1], [1, 2]]


def test_two_teams_by_hand() -> None:
    # case 1: Dice A .9 > B .8 -> A 1, B 2; ASSD equal -> both 1.  A 1.0, B 1.5
    # case 2: Dice B .7 > A .5 -> A 2, B 1; ASSD A 2 < B 3 -> A 1, B 2.  A 1.5, B 1.5
    table = make_table({"A": [[0.9, 1.0], [0.5, 2.0]], "B": [[0.8, 1.0], [0.7, 3.0]]}, ["VS_Dice", "VS_ASSD"])
    result = rank_then_aggregate(table)
    assert result.metric_ranks[:, 0].tolist() == [[1, 1], [2, 1]]
    assert result.metric_ranks[:, 1].tolist() == [[2, 1], [1, 2]]
    assert result.per_case.tolist() == [[1.0, 1.5], [1.5, 1.5]]
    assert result.ranking.score.tolist() == [1.25, 1.5]
    assert result.ranking.rank.tolist() == [1, 2]


def test_three_teams_with_tied_final_score() -> None:
    # case 1: A .9, B .8, C .7 -> 1, 2, 3; case 2: A .6, B .7, C .5 -> 2, 1, 3
    table = make_table({"A": [[0.9], [0.6]], "B": [[0.8], [0.7]], "C": [[0.7], [0.5]]}, ["VS_Dice"])
    ranking = rank_then_aggregate(table).ranking
    assert ranking.score.tolist() == [1.5, 1.5, 3.0]
    assert ranking.rank.tolist() == [1, 1, 3]
    assert ranking.order() == [0, 1, 2]


def test_three_teams_all_tied_per_case() -> None:
    # every case has a two-way tie: ranks (1,1,3), (3,1,1), (1,3,1) -> sums 5, 5, 5
    table = make_table({"A": [[0.9], [0.7], [0.8]], "B": [[0.9], [0.8], [0.6]], "C": [[0.8], [0.8], [0.8]]},
                       ["VS_Dice"])
    result = rank_then_aggregate(table)
    assert result.metric_ranks[:, :, 0].tolist() == [[1, 3, 1], [1, 1, 3], [3, 1, 1]]
    assert result.ranking.rank.tolist() == [1, 1, 1]


def test_direction_comes_from_spec_not_name() -> None:
    # "Dice_ASSD" is an ASSD column (lower is better) although its name contains "Dice".
    table = make_table({"A": [[1.0]], "B": [[2.0]]}, ["Dice_ASSD"])
    assert rank_then_aggregate(table).ranking.rank.tolist() == [1, 2]
    table = make_table({"A": [[1.0]], "B": [[2.0]]}, ["ASSD_Dice"])
    assert rank_then_aggregate(table).ranking.rank.tolist() == [2, 1]


def test_nan_refused_before_policy() -> None:
    table = make_table({"A": [[np.nan]], "B": [[0.5]]}, ["VS_Dice"])
    with pytest.raises(ValueError, match="missing-value policy"):
        rank_then_aggregate(table)


def test_aggregate_then_rank_mean_and_median() -> None:
    # A: Dice 1, 0, 0 (mean .333, median 0); B: .3, .3, .3 (mean .3, median .3)
    table = make_table({"A": [[1.0], [0.0], [0.0]], "B": [[0.3], [0.3], [0.3]]}, ["VS_Dice"])
    assert aggregate_then_rank(table, "mean").rank.tolist() == [1, 2]
    assert aggregate_then_rank(table, "median").rank.tolist() == [2, 1]
    with pytest.raises(ValueError):
        aggregate_then_rank(table, "max")


def test_variants_select_by_spec_structure_and_site() -> None:
    cols = ["VS_Dice", "VS_ASSD", "Cochlea_Dice", "Cochlea_ASSD"]
    row = [0.5, 1.0, 0.5, 1.0]
    table = make_table({"A": [row, row, row], "B": [row, row, row]}, cols,
                       cases=["crossmoda2022_etz_1", "crossmoda2022_ldn_2", "crossmoda2022_ldn_3"])
    subs = variant_tables(table)
    assert subs["dice"][0].columns == ["VS_Dice", "Cochlea_Dice"]
    assert subs["assd"][0].columns == ["VS_ASSD", "Cochlea_ASSD"]
    assert subs["vs"][0].columns == ["VS_Dice", "VS_ASSD"]
    assert subs["cochlea"][0].columns == ["Cochlea_Dice", "Cochlea_ASSD"]
    assert subs["site:ldn"][0].cases == ["crossmoda2022_ldn_2", "crossmoda2022_ldn_3"]
    assert subs["site:etz"][0].cases == ["crossmoda2022_etz_1"]
    assert set(variant_tables(table, ["vs"])) == {"vs"}
    with pytest.raises(ValueError, match="unknown variants"):
        variant_tables(table, ["hd95"])


def test_site_of() -> None:
    assert site_of("crossmoda2022_etz_12") == "etz"
    assert site_of("crossmoda_12") is None
    assert site_of("patient7") is None
