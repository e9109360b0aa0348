"""Line breaking: widths, kinsoku, whole words and numbers, hard breaks."""

import pytest

from kiosk_backend.core.printing import fonts, typeface, wrap_text

from .printing_support import CLOSING_PUNCTUATION, GUIDE_URL, OPENING_PUNCTUATION, PARAGRAPH


def test_wrap_text_never_starts_a_line_with_closing_punctuation():
    face = typeface(26)
    ten_ideographs = 10 * face.getlength("一")
    for mark in CLOSING_PUNCTUATION:
        # A greedy breaker would put the mark first on line two.
        lines = wrap_text("一二三四五六七八九十" + mark + "十一十二", face, ten_ideographs)

        assert len(lines) == 2
        assert not lines[1].startswith(mark), mark
        assert all(face.getlength(line) <= ten_ideographs for line in lines)


def test_wrap_text_never_ends_a_line_with_opening_punctuation():
    face = typeface(26)
    ten_ideographs = 10 * face.getlength("一")
    for mark in OPENING_PUNCTUATION:
        lines = wrap_text("一二三四五六七八九" + mark + "十" + "十一", face, ten_ideographs)

        assert not lines[0].endswith(mark), mark


def test_wrap_text_keeps_kinsoku_at_every_width():
    face = typeface(26)
    for width in range(120, 560, 7):
        lines = wrap_text(PARAGRAPH * 2, face, width)

        assert "".join(lines).replace(" ", "") == (PARAGRAPH * 2).replace(" ", "")
        for line in lines:
            assert face.getlength(line) <= width
            assert line and line[0] not in CLOSING_PUNCTUATION, (width, lines)
            assert line[-1] not in OPENING_PUNCTUATION, (width, lines)


def test_wrap_text_keeps_numbers_and_english_words_whole():
    face = typeface(26)
    text = "请拨打 010-12345678 咨询，或访问 www.gov.cn 查询进度 progress online"
    for width in range(260, 560, 10):
        lines = wrap_text(text, face, width)

        for word in ("010-12345678", "www.gov.cn", "progress", "online"):
            assert any(word in line for line in lines), (width, lines)


def test_wrap_text_breaks_between_any_two_ideographs():
    face = typeface(26)

    lines = wrap_text("一二三四五六七", face, 3 * face.getlength("一"))

    assert lines == ["一二三", "四五六", "七"]


def test_wrap_text_cuts_a_run_only_when_it_alone_is_wider_than_a_line():
    face = typeface(26)
    width = 200

    lines = wrap_text("见 " + GUIDE_URL, face, width)

    assert lines[0] == "见"
    assert "".join(lines[1:]) == GUIDE_URL
    assert all(face.getlength(line) <= width for line in lines)


def test_wrap_text_keeps_hard_line_breaks_and_blank_lines():
    face = typeface(26)

    assert wrap_text("第一行\n\n第三行", face, 500) == ["第一行", "", "第三行"]
    assert wrap_text("", face, 500) == [""]


def test_wrap_text_uses_first_line_width_for_the_first_line_only():
    face = typeface(26)
    em = face.getlength("一")

    lines = wrap_text("一二三四五六七八九十", face, 4 * em, first_line_width=2 * em)

    assert lines == ["一二", "三四五六", "七八九十"]


def test_wrap_text_accepts_a_plain_pillow_font():
    font = fonts._font(fonts.CJK_FONT_PATH, 20)

    assert wrap_text("一二三四", font, 2 * font.getlength("一")) == ["一二", "三四"]


def test_wrap_text_rejects_a_width_that_fits_nothing():
    with pytest.raises(ValueError):
        wrap_text("一", typeface(26), 0)
