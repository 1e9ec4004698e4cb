"""Passive replies: what the push endpoint may answer a push with (fact sheet §1.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TextReply:
    content: str

    def fields(self) -> dict[str, Any]:
        return {"MsgType": "text", "Content": self.content}


@dataclass(frozen=True, slots=True)
class ImageReply:
    media_id: str

    def fields(self) -> dict[str, Any]:
        return {"MsgType": "image", "Image": {"MediaId": self.media_id}}


@dataclass(frozen=True, slots=True)
class VoiceReply:
    media_id: str

    def fields(self) -> dict[str, Any]:
        return {"MsgType": "voice", "Voice": {"MediaId": self.media_id}}


@dataclass(frozen=True, slots=True)
class VideoReply:
    media_id: str
    title: str = ""
    description: str = ""

    def fields(self) -> dict[str, Any]:
        video = {"MediaId": self.media_id, "Title": self.title, "Description": self.description}
        return {"MsgType": "video", "Video": video}


@dataclass(frozen=True, slots=True)
class MusicReply:
    thumb_media_id: str
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""

    def fields(self) -> dict[str, Any]:
        music = {
            "Title": self.title,
            "Description": self.description,
            "MusicUrl": self.music_url,
            "HQMusicUrl": self.hq_music_url,
            "ThumbMediaId": self.thumb_media_id,
        }
        return {"MsgType": "music", "Music": music}


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    url: str
    description: str = ""
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    articles: tuple[Article, ...]

    def fields(self) -> dict[str, Any]:
        return {
            "MsgType": "news",
            "ArticleCount": len(self.articles),
            "Articles": {
                "item": [
                    {
                        "Title": a.title,
                        "Description": a.description,
                        "PicUrl": a.pic_url,
                        "Url": a.url,
                    }
                    for a in self.articles
                ]
            },
        }


@dataclass(frozen=True, slots=True)
class TransferCustomerServiceReply:
    """Hand the conversation to the customer-service staff (a given account, or any)."""

    kf_account: str | None = None

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"MsgType": "transfer_customer_service"}
        if self.kf_account:
            fields["TransInfo"] = {"KfAccount": self.kf_account}
        return fields


Reply = (
    TextReply
    | ImageReply
    | VoiceReply
    | VideoReply
    | MusicReply
    | NewsReply
    | TransferCustomerServiceReply
)
