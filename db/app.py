"""What every step shares: the loaded configuration, the database and the clock (injected, never global)."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from base.config import Config
from db.session import make_engine, make_sessionmaker

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class App:
    cfg: Config
    sm: sessionmaker[Session]
    clock: Clock = system_clock
    tz: zoneinfo.ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self.tz = zoneinfo.ZoneInfo(self.cfg.network.timezone)

    @classmethod
    def from_config(cls, cfg: Config, clock: Clock = system_clock) -> App:
        engine = make_engine(cfg.database.url, cfg.base_dir)
        return cls(cfg, make_sessionmaker(engine), clock)

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        return self.clock().astimezone(self.tz).date()
