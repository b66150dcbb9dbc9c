"""The Jinja2 environment for caremap's pages."""

from pathlib import Path

from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
