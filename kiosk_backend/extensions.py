"""Extensions, created unbound; app.create_app binds them."""
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from .core.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
