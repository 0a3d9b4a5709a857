"""Per-row decoding settings: the warping equals transformers' warpers row by row, greedy rows take the argmax."""

import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from soulchat.inference.engine import DecodingSettings, choose_tokens, warp_scores
from soulchat.inference.engine.sampling import fix_invalid_scores


def test_warping_equals_transformers_per_row():
    torch.manual_seed(0)
    scores = torch.randn(4, 300) * 3
    settings = [
        DecodingSettings(),
        DecodingSettings(temperature=0.5, top_p=0.9, top_k=0),
        DecodingSettings(temperature=1.3, top_p=0.3, top_k=10),
        DecodingSettings(temperature=1.0, top_p=1.0, top_k=1),
    ]
    warped = warp_scores(scores, settings)
    for row, s in enumerate(settings):
        expected = TemperatureLogitsWarper(s.temperature)(None, scores[row : row + 1].clone())
        if s.top_k:
            expected = TopKLogitsWarper(s.top_k)(None, expected)
        expected = TopPLogitsWarper(s.top_p)(None, expected)
        kept = torch.isfinite(expected[0])
        assert torch.equal(torch.isfinite(warped[row]), kept), row
        assert torch.allclose(warped[row][kept], expected[0][kept])


def test_greedy_rows_take_the_argmax_and_seeded_rows_repeat():
    torch.manual_seed(0)
    scores = torch.randn(3, 50)
    settings = [DecodingSettings(greedy=True), DecodingSettings(seed=1), DecodingSettings(seed=1)]
    generators = [None, torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)]
    tokens = choose_tokens(scores, settings, generators)
    assert tokens[0] == scores[0].argmax()
    again = choose_tokens(scores[1:2], settings[1:2], [torch.Generator().manual_seed(3)])
    assert tokens[1] == again[0]


def test_invalid_rows_are_reset_as_chatglm_does():
    scores = torch.zeros(2, 10)
    scores[1, 2] = float("nan")
    fixed = fix_invalid_scores(scores)
    assert torch.equal(fixed[0], scores[0]) and fixed[1].argmax() == 5 and fixed[1, 5] == 5e4
