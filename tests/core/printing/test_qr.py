"""QR codes: exact size, the payload module for module, whole-pixel modules."""

import pytest
import qrcode
import qrcode.constants

from kiosk_backend.core.printing import qr_image

from .printing_support import GUIDE_URL


@pytest.mark.parametrize("size", [200, 231, 577])
def test_qr_image_has_exactly_the_requested_size(size):
    image = qr_image(GUIDE_URL, size)

    assert image.size == (size, size)
    assert image.mode == "L"


def test_qr_image_encodes_the_payload_module_for_module():
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    reference.add_data(GUIDE_URL)
    reference.make(fit=True)
    matrix = reference.get_matrix()
    scale = 5

    image = qr_image(GUIDE_URL, len(matrix) * scale)

    centres = [i * scale + scale // 2 for i in range(len(matrix))]
    sampled = [[image.getpixel((x, y)) == 0 for x in centres] for y in centres]
    assert sampled == matrix


def test_qr_image_refuses_a_size_too_small_for_one_pixel_per_module():
    with pytest.raises(ValueError):
        qr_image(GUIDE_URL, 20)
