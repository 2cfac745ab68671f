"""Google's own google-cloud-vision client, unchanged, against decaf serve on loopback."""

from __future__ import annotations

import io

import pytest
import skimage.data
from PIL import Image

from tests.annotate.conftest import text_picture
from tests.serve.conftest import KEY

vision = pytest.importorskip("google.cloud.vision")


def _client(url: str, key: str | None):  # noqa: ANN202
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    options = ClientOptions(api_endpoint=url, api_key=key) if key else ClientOptions(
        api_endpoint=url)  # fmt: skip
    return vision.ImageAnnotatorClient(transport="rest", credentials=None if key else
                                       AnonymousCredentials(), client_options=options)  # fmt: skip


def _image(picture: Image.Image) -> object:
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return vision.Image(content=buf.getvalue())


def test_every_helper_of_the_official_client(live) -> None:
    c = _client(live.url, KEY)
    astro = _image(Image.fromarray(skimage.data.astronaut()))
    cat = _image(Image.fromarray(skimage.data.chelsea()))
    labels = c.label_detection(image=cat).label_annotations
    assert labels and labels[0].description.endswith("cat") and 0 < labels[0].score <= 1
    faces = c.face_detection(image=astro).face_annotations
    assert len(faces) == 1 and faces[0].joy_likelihood == vision.Likelihood.VERY_LIKELY
    assert {m.type_.name for m in faces[0].landmarks} == {"LEFT_EYE", "RIGHT_EYE"}
    text = c.text_detection(image=_image(text_picture())).text_annotations
    assert text[0].description.startswith("Hello World 2024") and text[1].description == "Hello"
    objects = c.object_localization(image=cat).localized_object_annotations
    assert objects and objects[0].bounding_poly.normalized_vertices[2].x > 0.5
    props = c.image_properties(image=cat).image_properties_annotation
    assert len(props.dominant_colors.colors) == 10
    hints = c.crop_hints(image=astro).crop_hints_annotation.crop_hints
    assert hints and hints[0].bounding_poly.vertices[2].x == 512
    safe = c.safe_search_detection(image=cat).safe_search_annotation
    assert safe.adult == vision.Likelihood.VERY_UNLIKELY


def test_annotate_image_and_batch_with_a_bad_picture(live) -> None:
    c = _client(live.url, KEY)
    astro = _image(Image.fromarray(skimage.data.astronaut()))
    one = c.annotate_image({"image": astro, "features": [
        {"type_": vision.Feature.Type.LABEL_DETECTION, "max_results": 2},
        {"type_": vision.Feature.Type.FACE_DETECTION}]})  # fmt: skip
    assert len(one.label_annotations) == 2 and len(one.face_annotations) == 1
    feature = vision.Feature(type_=vision.Feature.Type.LABEL_DETECTION)
    batch = c.batch_annotate_images(requests=[
        vision.AnnotateImageRequest(image=astro, features=[feature]),
        vision.AnnotateImageRequest(image=vision.Image(content=b"not a picture"),
                                    features=[feature])])  # fmt: skip
    good, bad = batch.responses
    assert good.label_annotations and not good.error.message
    assert bad.error.code == 3 and "Bad image data" in bad.error.message


def test_wrong_or_missing_key_raises_the_clients_own_errors(live) -> None:
    """Both are 403 PERMISSION_DENIED, as Google answers; the REST transport maps HTTP 403 to
    its Forbidden (the gRPC transport would say PermissionDenied)."""
    from google.api_core import exceptions

    image = _image(Image.fromarray(skimage.data.chelsea()))
    with pytest.raises(exceptions.Forbidden, match="API key not valid"):
        _client(live.url, "wrong-key").label_detection(image=image)
    with pytest.raises(exceptions.Forbidden, match="missing a valid API key"):
        _client(live.url, None).label_detection(image=image)
