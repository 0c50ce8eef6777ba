"""The PNG preview: size, colours, one band per channel, and no lost peaks when folding pixels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from beatpass_waveform.peaks import Peaks
from beatpass_waveform.png import render_png

BLUE, WHITE = "#3b82f6", "#ffffff"


def image(peaks: Peaks, mode: str = "RGB", **options) -> Image.Image:
    settings = {"width": 1800, "height": 280, "color": BLUE, "background": WHITE} | options
    png = Image.open(io.BytesIO(render_png(peaks, **settings)))
    assert png.format == "PNG" and png.mode == "P"  # a two-colour palette
    return png.convert(mode)


def peaks_of(pairs, bits: int = 16) -> Peaks:
    return Peaks(44_100, 256, bits, np.array(pairs, np.int16).reshape(-1, 1, 2))


def test_default_size_and_colours():
    img = image(peaks_of([[-16384, 16384]] * 5000))
    assert img.size == (1800, 280)
    assert img.getpixel((900, 140)) == (0x3B, 0x82, 0xF6)  # the bar crosses the middle
    assert img.getpixel((900, 2)) == (255, 255, 255)  # half scale leaves the top empty


def test_configured_colours_with_transparency():
    img = image(
        peaks_of([[-32768, 32767]] * 10, bits=16), "RGBA", color="#ff0000", background="#00000000", width=200, height=50
    )
    assert img.size == (200, 50)
    assert img.getpixel((100, 25)) == (255, 0, 0, 255)
    silent = image(peaks_of([[0, 0]] * 10), "RGBA", background="#00000000", width=20, height=51)
    assert silent.getpixel((10, 0)) == (0, 0, 0, 0)


def test_a_single_loud_pixel_survives_folding():
    pairs = [[0, 0]] * 100_000
    pairs[54_321] = [-32768, 32767]
    img = np.asarray(image(peaks_of(pairs), width=100, height=21))
    loud = np.flatnonzero((img[0] != 255).any(axis=-1))
    assert loud.tolist() == [54]  # column 54 covers pixels 54000..54999


def test_8_bit_peaks_use_their_own_full_scale():
    img = np.asarray(image(peaks_of([[-128, 127]] * 4, bits=8), width=4, height=11))
    assert (img != 255).any(axis=-1).all()  # full scale: every row painted


def test_split_channels_get_their_own_band():
    data = np.zeros((10, 2, 2), np.int16)
    data[:, 1] = [-32768, 32767]  # only the second channel is loud
    img = np.asarray(image(Peaks(44_100, 256, 16, data), width=10, height=40))
    painted = (img != 255).any(axis=-1).any(axis=1)
    assert painted[:20].sum() == 1 and painted[20:].all()  # a flat line, then a full bar


def test_empty_waveform_is_background():
    img = np.asarray(image(Peaks(44_100, 256, 16, np.zeros((0, 1, 2), np.int16)), width=10, height=10))
    assert (img == 255).all()
