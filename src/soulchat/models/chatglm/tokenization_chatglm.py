"""ChatGLM-6B (v1) tokenizer: SentencePiece `ice_text.model` with ChatGLM's whitespace pieces and GLM padding.

Reproduces the original tokenizer: newlines, tabs and runs of 2-80 spaces become the `<n>`, `<|tab|>` and
`<|blank_n|>` pieces before SentencePiece; `[gMASK] <sop>` is appended to every text; padding is on the left and
also returns the GLM attention mask `[1, L, L]` (bool, True = masked) and 2D position ids `[2, L]`.

This file depends only on numpy, sentencepiece and transformers, so it can be copied next to a checkpoint and
loaded as remote code.
"""

import os
import re
from collections.abc import Mapping
from shutil import copyfile
from typing import Any

import numpy as np
import sentencepiece as spm
from transformers import PreTrainedTokenizer
from transformers.tokenization_utils_base import AddedToken, BatchEncoding, PaddingStrategy, TruncationStrategy
from transformers.utils import logging

logger = logging.get_logger(__name__)

VOCAB_FILES_NAMES = {"vocab_file": "ice_text.model"}
_MAX_BLANK = 80
_BLANK_PIECE = re.compile(r"<\|blank_(\d+)\|>")
_SPACE_RUN = re.compile(" {2,}")


def _blank_pieces(run: re.Match) -> str:
    """A run of n >= 2 spaces as the original's replacement loop (n = 80 down to 2) leaves it: `<|blank_80|>` for
    every whole 80 spaces, then `<|blank_r|>` for a rest r >= 2 or the single space for r = 1."""
    whole, rest = divmod(len(run.group()), _MAX_BLANK)
    return f"<|blank_{_MAX_BLANK}|>" * whole + (f"<|blank_{rest}|>" if rest > 1 else " " * rest)


class ChatGLMTokenizer(PreTrainedTokenizer):
    """
    Construct a ChatGLM-6B tokenizer from the original `ice_text.model` SentencePiece file.

    Args:
        vocab_file (`str`):
            Path to `ice_text.model`.
        do_lower_case (`bool`, *optional*, defaults to `False`):
            Whether to lowercase the input.
        remove_space (`bool`, *optional*, defaults to `False`):
            Whether to strip the input and collapse its whitespace runs to single spaces.
        bos_token (`str`, *optional*, defaults to `"<sop>"`):
            Start of the generated block, appended after `[gMASK]`.
        eos_token (`str`, *optional*, defaults to `"<eop>"`):
            End of the generated block.
        end_token (`str`, *optional*, defaults to `"</s>"`):
            SentencePiece end-of-sentence piece (kept for compatibility).
        mask_token (`str`, *optional*, defaults to `"[MASK]"`):
            Short-span mask token.
        gmask_token (`str`, *optional*, defaults to `"[gMASK]"`):
            Generation mask token; not split out of raw text (literal "[gMASK]" is ordinary text).
        pad_token (`str`, *optional*, defaults to `"<pad>"`):
            Padding token.
        unk_token (`str`, *optional*, defaults to `"<unk>"`):
            Unknown token.
        num_image_tokens (`int`, *optional*, defaults to 20000):
            Offset of every SentencePiece id (the first release reserved 20000 image ids; the final checkpoint's
            `tokenizer_config.json` sets 0).
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask", "position_ids"]
    padding_side = "left"
    # Saving copies this file next to the vocabulary and records it in `auto_map` (remote-code loading).
    _auto_class = "AutoTokenizer"

    def __init__(
        self,
        vocab_file: str,
        do_lower_case: bool = False,
        remove_space: bool = False,
        bos_token: str = "<sop>",
        eos_token: str = "<eop>",
        end_token: str = "</s>",
        mask_token: str = "[MASK]",
        gmask_token: str = "[gMASK]",
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        num_image_tokens: int = 20000,
        **kwargs,
    ):
        self.vocab_file = vocab_file
        self.sp_model = spm.SentencePieceProcessor()
        self.sp_model.Load(vocab_file)
        self.do_lower_case = do_lower_case
        self.remove_space = remove_space
        self.num_image_tokens = num_image_tokens
        self._split_cache: tuple[tuple[str, ...], re.Pattern | None, str] = ((), None, "")
        # `from_pretrained` hands the non-standard `*_token` entries of tokenizer_config.json over as
        # `model_specific_special_tokens`; `[gMASK]` and `</s>` must stay ordinary text, so take them back.
        specific = dict(kwargs.pop("model_specific_special_tokens", None) or {})
        self.gmask_token = str(specific.pop("gmask_token", gmask_token))
        self.end_token = str(specific.pop("end_token", end_token))
        if specific:
            kwargs["model_specific_special_tokens"] = specific
        # Transformers 4.x stripped the whitespace around special tokens given as strings, as the original relied on.
        self._added_tokens_decoder = {
            self._convert_token_to_id(str(token)): AddedToken(
                str(token), lstrip=True, rstrip=True, normalized=False, special=True
            )
            for token in (bos_token, eos_token, mask_token, pad_token, unk_token)
        }
        kwargs.setdefault("padding_side", "left")
        kwargs.setdefault("clean_up_tokenization_spaces", True)
        super().__init__(
            do_lower_case=do_lower_case,
            remove_space=remove_space,
            bos_token=bos_token,
            eos_token=eos_token,
            mask_token=mask_token,
            pad_token=pad_token,
            unk_token=unk_token,
            num_image_tokens=num_image_tokens,
            **kwargs,
        )
        # `[gMASK]` and `</s>` are not HF special tokens (literal "[gMASK]" is ordinary text) but are saved with the
        # configuration like the original's.
        self.init_kwargs.update(gmask_token=self.gmask_token, end_token=self.end_token)

    # --- vocabulary ---------------------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.num_image_tokens + self.sp_model.get_piece_size()

    @property
    def gmask_token_id(self) -> int:
        return self._convert_token_to_id(self.gmask_token)

    @property
    def end_token_id(self) -> int:
        return self._convert_token_to_id(self.end_token)

    def get_vocab(self) -> dict[str, int]:
        vocab = {f"<image_{i}>": i for i in range(self.num_image_tokens)}
        offset = self.num_image_tokens
        vocab.update({self.sp_model.id_to_piece(i): i + offset for i in range(self.sp_model.get_piece_size())})
        vocab.update(self._added_tokens_encoder)
        return vocab

    def _convert_token_to_id(self, token: str) -> int:
        return self.sp_model.piece_to_id(token) + self.num_image_tokens

    def _convert_id_to_token(self, index: int) -> str:
        if index < self.num_image_tokens:
            return f"<image_{index}>"
        return self.sp_model.id_to_piece(index - self.num_image_tokens)

    # --- encoding -----------------------------------------------------------------------------------------------

    def preprocess_text(self, text: str) -> str:
        """The text SentencePiece sees: optional space/case folding, then `<n>`, `<|tab|>` and `<|blank_n|>` pieces."""
        if self.remove_space:
            text = " ".join(text.strip().split())
        if self.do_lower_case:
            text = text.lower()
        text = text.replace("\n", "<n>").replace("\t", "<|tab|>")
        return _SPACE_RUN.sub(_blank_pieces, text) if "  " in text else text

    def _preprocess_batch(self, texts: list[str]) -> list[str]:
        """[`preprocess_text`] of every text, with one pass of each replacement over the batch joined by NUL (which
        no replacement touches and no space run crosses) instead of a Python call a text."""
        joined = "\x00".join(texts)
        if self.remove_space or len(texts) < 2 or joined.count("\x00") != len(texts) - 1:
            return [self.preprocess_text(text) for text in texts]
        if self.do_lower_case:
            joined = joined.lower()
        joined = joined.replace("\n", "<n>").replace("\t", "<|tab|>")
        if "  " in joined:
            joined = _SPACE_RUN.sub(_blank_pieces, joined)
        return joined.split("\x00")

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self.sp_model.encode(self.preprocess_text(text), out_type=str)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """`a + [gMASK, <sop>]`, and `+ b + [<eop>]` for a pair."""
        ids = token_ids_0 + [self.gmask_token_id, self.bos_token_id]
        if token_ids_1 is not None:
            ids = ids + token_ids_1 + [self.eos_token_id]
        return ids

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        if already_has_special_tokens:
            special = set(self.all_special_ids) | {self.gmask_token_id}
            return [int(i in special) for i in token_ids_0]
        mask = [0] * len(token_ids_0) + [1, 1]
        return mask + [0] * len(token_ids_1) + [1] if token_ids_1 is not None else mask

    def _encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        """Batches of plain strings take a vectorised path (one SentencePiece call); everything else the generic one."""
        if self._can_encode_batch_fast(text, text_pair, kwargs):
            return self._encode_batch_fast(text, **kwargs)
        return super()._encode_plus(text, text_pair=text_pair, **kwargs)

    def _can_encode_batch_fast(self, text: Any, text_pair: Any, kwargs: dict) -> bool:
        if any(token.single_word for token in self._added_tokens_decoder.values()):
            return False
        simple = not any(
            kwargs.get(name)
            for name in (
                "is_split_into_words",
                "return_overflowing_tokens",
                "return_special_tokens_mask",
                "return_offsets_mapping",
                "split_special_tokens",
                "stride",
            )
        )
        extra = set(kwargs) - _FAST_PATH_KWARGS
        is_batch = isinstance(text, (list, tuple)) and len(text) > 0 and all(isinstance(t, str) for t in text)
        return is_batch and text_pair is None and simple and not extra

    def _added_tokens_split(self) -> tuple[re.Pattern | None, str]:
        """The pattern splitting text on the added tokens, and the first characters of those tokens (a cheap pre-check)."""
        keys = tuple(self._added_tokens_encoder)
        if self._split_cache[0] != keys:
            alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
            pattern = re.compile(f"({alternatives})") if keys else None
            self._split_cache = (keys, pattern, "".join(sorted({k[0] for k in keys if k})))
        return self._split_cache[1], self._split_cache[2]

    def _split_on_added_tokens(self, text: str) -> list[str]:
        """Splits `text` on the added/special tokens like the generic `tokenize` does (stripping where they ask)."""
        pattern = self._added_tokens_split()[0]
        pieces = pattern.split(text) if pattern is not None else [text]
        for i in range(1, len(pieces), 2):
            token = self._added_tokens_decoder[self._added_tokens_encoder[pieces[i]]]
            if token.rstrip:
                pieces[i + 1] = pieces[i + 1].lstrip()
            if token.lstrip:
                pieces[i - 1] = pieces[i - 1].rstrip()
        return pieces

    def _encode_segments(self, segments: list[str], *, arrays: bool) -> list:
        """Ids (offset by `num_image_tokens`) of text segments free of added tokens, in one SentencePiece call.

        As `int32` arrays if `arrays` (sentencepiece >= 0.2.1 hands back buffers, no Python int a token), else as
        lists (SentencePiece builds those faster than arrays convert to them).
        """
        texts = self._preprocess_batch(segments)
        if not texts:
            return []
        if not arrays:
            if self.num_image_tokens:
                return [ids.tolist() for ids in self._encode_segments(segments, arrays=True)]
            return self.sp_model.encode(texts)
        try:
            encoded = self.sp_model.encode(texts, return_type="numpy")
        except TypeError:  # sentencepiece < 0.2.1
            encoded = [np.array(ids, dtype=np.int32) for ids in self.sp_model.encode(texts)]
        return [ids + self.num_image_tokens for ids in encoded] if self.num_image_tokens else encoded

    def _encode_texts(self, texts: list[str], *, arrays: bool) -> list:
        """Ids of each text without special tokens (see [`encode_as_arrays`]), as arrays or as lists."""
        pattern, first_chars = self._added_tokens_split()
        # Texts rarely hold an added token: one scan of the whole batch for their first characters usually settles it.
        joined = "".join(texts)
        if pattern is None or not any(c in joined for c in first_chars):
            return self._encode_segments(texts, arrays=arrays)
        split = {i: self._split_on_added_tokens(text) for i, text in enumerate(texts) if pattern.search(text)}
        segments = [s for i, text in enumerate(texts) for s in (split[i][0::2] if i in split else [text]) if s]
        encoded = iter(self._encode_segments(segments, arrays=arrays))
        out = []
        for i, text in enumerate(texts):
            if i not in split:
                out.append(next(encoded) if text else (np.zeros(0, dtype=np.int32) if arrays else []))
                continue
            # Text pieces (even places) and added tokens (odd places) alternate; empty text pieces have no ids.
            parts = [
                next(encoded) if j % 2 == 0 else [self._added_tokens_encoder[p]] for j, p in enumerate(split[i]) if p
            ]
            if arrays:
                out.append(np.concatenate(parts).astype(np.int32, copy=False) if parts else np.zeros(0, np.int32))
            else:
                out.append([t for part in parts for t in part])
        return out

    def encode_as_arrays(self, texts: list[str]) -> list[np.ndarray]:
        """Ids of each text without special tokens, as `int32` arrays, from one batched SentencePiece call.

        Identical to `encode(text, add_special_tokens=False)` text by text, added tokens (`<sop>`, `[MASK]`, ...)
        included, without creating a Python int per token: the input of vectorised training-data pipelines.

        Args:
            texts (`list[str]`):
                The texts.

        Returns:
            `list[np.ndarray]`: one 1D `int32` array of ids a text.

        Example:

        ```python
        >>> [ids.tolist() for ids in tokenizer.encode_as_arrays(["你好", "<sop>"])]
        [[5, 74874], [130004]]
        ```
        """
        return self._encode_texts(texts, arrays=True)

    def _encode_batch_fast(
        self,
        texts: list[str],
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        return_length: bool = False,
        **kwargs,
    ) -> BatchEncoding:
        # One SentencePiece call for the whole batch, then special tokens and truncation.
        batch_ids = self._encode_texts(texts, arrays=False)
        suffix = self.build_inputs_with_special_tokens([]) if add_special_tokens else []
        if truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length:  # 0 is "no limit", as one by one
            keep = max(max_length - len(suffix), 0)
            right = self.truncation_side == "right"
            batch_ids = [ids[:keep] if right else ids[max(len(ids) - keep, 0) :] for ids in batch_ids]
        if suffix:
            batch_ids = [ids + suffix for ids in batch_ids]
        outputs: dict[str, list] = {"input_ids": batch_ids}
        if return_length:
            outputs["length"] = [len(ids) for ids in batch_ids]
        if padding_strategy != PaddingStrategy.DO_NOT_PAD:
            outputs = self.pad(
                outputs,
                padding=padding_strategy.value,
                max_length=max_length,
                pad_to_multiple_of=pad_to_multiple_of,
                padding_side=padding_side,
                return_attention_mask=return_attention_mask,
            )
        return BatchEncoding(dict(outputs), tensor_type=return_tensors)

    # --- padding ------------------------------------------------------------------------------------------------

    def glm_attention_mask_and_positions(self, input_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The unpadded GLM mask `[1, L, L]` (bool, True = masked) and positions `[2, L]` of one sequence.

        The context (before the first `<sop>`, or everything without one) is visible to all tokens, the rest is causal.
        Positions count up to the context, then stay at the mask token (`[MASK]` if present, else `[gMASK]`); block
        positions are 0 over the context and 1, 2, ... from `<sop>` on.
        """
        length = len(input_ids)
        context = input_ids.index(self.bos_token_id) if self.bos_token_id in input_ids else length
        visible = np.tril(np.ones((length, length), dtype=bool))
        visible[:, :context] = True
        mask_token = self.mask_token_id if self.mask_token_id in input_ids else self.gmask_token_id
        mask_position = input_ids.index(mask_token) if mask_token in input_ids else context
        positions = np.arange(length, dtype=np.int64)
        positions[context:] = mask_position
        block_positions = np.concatenate(
            [np.zeros(context, dtype=np.int64), np.arange(1, length - context + 1, dtype=np.int64)]
        )
        return ~visible[None], np.stack([positions, block_positions])

    def pad(self, encoded_inputs: Any, *args: Any, **kwargs: Any) -> BatchEncoding:
        """`PreTrainedTokenizer.pad`, with the GLM mask of features that already carry one padded along.

        transformers sets a multi-dimensional `attention_mask` aside while it pads and puts it back unchanged, which
        would leave a `[1, L, L]` mask of the old length next to longer ids; here it grows as `_pad` grows a new one
        (masked rows and columns on the left).
        """
        features = encoded_inputs
        if isinstance(features, (list, tuple)) and features and isinstance(features[0], Mapping):
            features = {key: [feature[key] for feature in features] for key in features[0]}
        masks = features.get("attention_mask") if isinstance(features, Mapping) else None
        if not (isinstance(masks, (list, tuple)) and masks and getattr(masks[0], "ndim", 0) > 1):
            return super().pad(encoded_inputs, *args, **kwargs)
        features = {key: value for key, value in features.items() if key != "attention_mask"}
        padded = super().pad(features, *args, **kwargs)
        grown = []
        for mask, ids in zip(masks, padded["input_ids"], strict=True):
            mask = mask.cpu().numpy() if hasattr(mask, "cpu") else np.asarray(mask)
            difference = len(ids) - mask.shape[-1]
            grown.append(np.pad(mask, [(0, 0), (difference, 0), (difference, 0)], constant_values=True))
        stacked = np.stack(grown)
        if hasattr(padded["input_ids"], "cpu"):  # torch tensors
            import torch

            stacked = torch.from_numpy(stacked)
        padded["attention_mask"] = stacked
        return padded

    def _pad(
        self,
        encoded_inputs: dict[str, Any] | BatchEncoding,
        max_length: int | None = None,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
    ) -> dict:
        """Left-pads one example and, when padding is requested, adds its GLM mask and position ids."""
        if (padding_side or self.padding_side) != "left":
            raise ValueError("ChatGLM pads on the left only")
        if padding_strategy == PaddingStrategy.DO_NOT_PAD:
            return encoded_inputs
        required_input = encoded_inputs[self.model_input_names[0]]
        if padding_strategy == PaddingStrategy.LONGEST:
            max_length = len(required_input)
        if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of != 0:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        mask, positions = self.glm_attention_mask_and_positions(list(required_input))
        if return_attention_mask and "attention_mask" not in encoded_inputs:
            encoded_inputs["attention_mask"] = mask
        if "position_ids" not in encoded_inputs:
            encoded_inputs["position_ids"] = positions
        difference = max_length - len(required_input)
        if difference > 0:
            if "attention_mask" in encoded_inputs:
                encoded_inputs["attention_mask"] = np.pad(
                    encoded_inputs["attention_mask"], [(0, 0), (difference, 0), (difference, 0)], constant_values=True
                )
            encoded_inputs["position_ids"] = np.pad(encoded_inputs["position_ids"], [(0, 0), (difference, 0)])
            if "special_tokens_mask" in encoded_inputs:
                encoded_inputs["special_tokens_mask"] = [1] * difference + list(encoded_inputs["special_tokens_mask"])
            encoded_inputs["input_ids"] = [self.pad_token_id] * difference + list(required_input)
        return encoded_inputs

    # --- decoding -----------------------------------------------------------------------------------------------

    @staticmethod
    def postprocess_text(text: str) -> str:
        """Undoes `preprocess_text`'s pieces: `<n>`, `<|tab|>` and `<|blank_n|>`."""
        text = text.replace("<n>", "\n").replace("<|tab|>", "\t")
        return _BLANK_PIECE.sub(lambda match: " " * int(match.group(1)), text)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self.postprocess_text(self.sp_model.decode_pieces(tokens))

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs,
    ) -> str:
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        dropped = set(self.all_special_ids) if skip_special_tokens else {self.pad_token_id}
        offset = self.num_image_tokens
        ids = [int(i) - offset for i in token_ids if int(i) not in dropped and int(i) >= offset]
        text = self.postprocess_text(self.sp_model.decode(ids))
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        """Copies `ice_text.model` (or writes the loaded model) into `save_directory`."""
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES["vocab_file"]
        out_file = os.path.join(save_directory, name)
        if os.path.abspath(self.vocab_file) != os.path.abspath(out_file) and os.path.isfile(self.vocab_file):
            copyfile(self.vocab_file, out_file)
        elif not os.path.isfile(self.vocab_file):
            with open(out_file, "wb") as handle:
                handle.write(self.sp_model.serialized_model_proto())
        return (out_file,)


_FAST_PATH_KWARGS = {
    "add_special_tokens",
    "padding_strategy",
    "truncation_strategy",
    "max_length",
    "pad_to_multiple_of",
    "padding_side",
    "return_tensors",
    "return_attention_mask",
    "return_length",
    "return_token_type_ids",
    "return_overflowing_tokens",
    "return_special_tokens_mask",
    "return_offsets_mapping",
    "split_special_tokens",
    "stride",
    "is_split_into_words",
    "verbose",
}

__all__ = ["ChatGLMTokenizer"]
