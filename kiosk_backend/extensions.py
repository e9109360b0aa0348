"""Extensions, created unbound; app.create_app binds them."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from .core.errors import KioskApi
from .core.models import Base
from .core.ratelimit import KioskLimiter

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = KioskApi()
limiter = KioskLimiter()  # storage and limits per app: core.ratelimit
