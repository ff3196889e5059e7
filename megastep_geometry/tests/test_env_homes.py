"""The homes an env is built in when it is given none."""
import pytest

from megastep_geometry.env_homes import MAX_HOMES, sample_homes


@pytest.mark.parametrize("n_envs", [0, -1, 1.5, True])
def test_a_number_of_envs_that_is_not_a_positive_integer_is_refused(n_envs):
    with pytest.raises(ValueError, match="n_envs must be a positive integer"):
        sample_homes(n_envs, "training", 0)


def test_a_few_envs_get_that_many_homes_and_many_envs_at_most_max_homes_or_the_split(monkeypatch):
    """More envs than the test split's 500 homes (a Deathmatch tournament plays 28 pairs x 32 games) repeat them."""
    from megastep_geometry import homes

    asked = []
    monkeypatch.setattr(homes, "sample", lambda n, split, seed: asked.append((n, split, seed)) or ["home"] * n)
    assert len(sample_homes(3, "test", 7)) == 3
    sample_homes(MAX_HOMES * 4, "training", 0)
    sample_homes(896, "test", 0)
    assert asked == [(3, "test", 7), (MAX_HOMES, "training", 0), (len(homes.split_indices("test")), "test", 0)]
    assert len(homes.split_indices("test")) < 896
