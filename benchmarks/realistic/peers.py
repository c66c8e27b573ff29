"""Optional contenders on the realistic dataset: LangChain's and LlamaIndex's Postgres stores.

Each peer gets the SAME precomputed embeddings (a fixed ``Embeddings`` object that returns the
stored vectors, and ``add_embeddings`` / nodes carrying their embedding, so that no model runs)
and the same chunks, in one table holding every workspace, as aura-db's ``rag_chunks`` does; a
workspace is a filter (LangChain ``PGVector``: a collection) and the Documentation filter is a
metadata filter. What each library does by default is what is measured:

* ``langchain-postgres PGVector``: the JSONB store, one collection per workspace; it creates no
  vector index, so its search is an exact scan of the collection;
* ``langchain-postgres PGVectorStore`` (v2): a table with metadata columns, then
  ``apply_vector_index(HNSWIndex())`` (m 16, ef_construction 64) after the load; its search runs
  at pgvector's default ``hnsw.ef_search`` (40) without iterative scans;
* ``llama-index PGVectorStore``: loaded without an index, then opened with the ``hnsw_kwargs``
  of its documentation (m 16, ef_construction 64, ef_search 40), which builds the index.

Hybrid search (``hybrid()``): LangChain PGVectorStore's, on the ``content_tsv`` column and GIN
index its documentation advises (english configuration, ``plainto_tsquery``), each leg taking
the same 40 candidates as aura-db's, fused by its default weighted sum and by reciprocal rank
fusion. LlamaIndex's hybrid mode needs a table made for it and is not measured.

A peer whose package is missing is skipped with a line in the report (``pip install
aura-db[peers]``). The packages pin an older SQLAlchemy than the ``bench`` extra's; see the
``peers`` extra in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from psycopg.conninfo import conninfo_to_dict

__all__ = ["CANDIDATES", "PEERS", "HybridSearch", "Peer", "missing", "open_peer"]

Key = tuple[str, int]
_NS = uuid.UUID("5f0c8b9e-6d1e-4c1e-9a51-0a0db0be0c47")
BATCH = 1_000

# peer -> the module its package provides (to say which is missing)
PEERS: dict[str, tuple[str, str]] = {
    "langchain PGVector": ("langchain_postgres", "langchain-postgres"),
    "langchain PGVectorStore": ("langchain_postgres", "langchain-postgres"),
    "llama-index PGVectorStore": ("llama_index.vector_stores.postgres", "llama-index-vector-stores-postgres"),
}

Search = Callable[[str, np.ndarray, int, str | None], list[Key]]  # workspace, query, k, content_type
HybridSearch = Callable[[str, str, np.ndarray, int], list[Key]]  # workspace, text, query vector, k
CANDIDATES = 40  # each leg's candidates in a hybrid search: aura-db's default, max(4 * k, 40)


class Peer(Protocol):
    """A loaded peer: ``search`` returns the (content_id, chunk_index) of its top ``k``."""

    name: str
    note: str
    indexed: bool  # has a vector index (else its every search is an exact scan)

    def search(self, workspace: str, q: np.ndarray, k: int, content_type: str | None) -> list[Key]: ...

    def at_ef(self, ef: int) -> Peer | None:
        """The same store searched at ``hnsw.ef_search = ef`` (through the library's own option),
        or None when it has no vector index (its search is an exact scan at every setting)."""
        ...

    def hybrid(self) -> dict[str, HybridSearch]:
        """Its hybrid (full-text + vector) searches by label; empty when it has none."""
        ...

    def close(self) -> None: ...


class _Tuned:
    """A peer's store searched at another ``ef_search``: shares the loaded store (closing it
    closes nothing)."""

    indexed = True

    def __init__(self, base: Peer, ef: int, search: Search) -> None:
        self.name, self.note = base.name, f"{base.note}, ef_search {ef}"
        self._base, self._search = base, search

    def search(self, workspace: str, q: np.ndarray, k: int, content_type: str | None) -> list[Key]:
        return self._search(workspace, q, k, content_type)

    def at_ef(self, ef: int) -> Peer | None:
        return self._base.at_ef(ef)

    def hybrid(self) -> dict[str, HybridSearch]:
        return self._base.hybrid()

    def close(self) -> None:
        pass


Row = tuple[str, str, int, str, str, np.ndarray]  # workspace, content_id, chunk_index, type, text, vector


def missing(name: str) -> str | None:
    """Why peer ``name`` cannot run (its package is missing), or None."""
    module, package = PEERS[name]
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        return None
    return f"{name} skipped: package {package} is not installed (pip install aura-db[peers])"


def sqlalchemy_url(url: str, driver: str = "psycopg") -> Any:
    """A ``postgresql+<driver>`` SQLAlchemy URL for the libpq URL or conninfo ``url`` (a Unix
    socket directory goes into the query, where libpq reads it)."""
    from sqlalchemy.engine import URL

    d = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    host = d.get("host", "")
    socket = host.startswith("/")
    query = {"host": host} if socket else {}
    if socket and "port" in d:
        query["port"] = d["port"]
    return URL.create(f"postgresql+{driver}", username=d.get("user"), password=d.get("password"),
                      host=None if socket else (host or None),
                      port=int(d["port"]) if "port" in d and not socket else None,
                      database=d.get("dbname"), query=query)


def _analyze(url: str, table: str) -> None:
    """VACUUM ANALYZE the peer's table after its load, as the runner does rag_chunks."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


def _id(workspace: str, content_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_NS, f"{workspace}/{content_id}#{chunk_index}"))


def _batches(rows: Sequence[Row]) -> list[Sequence[Row]]:
    return [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]


class _Fixed:
    """LangChain ``Embeddings`` returning the stored vector of a known text (the benchmark
    passes vectors directly; a text it does not know is an error, not a silent model call)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


def _embeddings(rows: Sequence[Row]) -> Any:
    from langchain_core.embeddings import Embeddings

    fixed = type("FixedEmbeddings", (_Fixed, Embeddings), {})
    return fixed({r[4]: r[5].tolist() for r in rows})


def open_peer(name: str, url: str, rows: Sequence[Row], dims: int) -> Peer:
    """Load ``rows`` (every workspace's chunks) into peer ``name`` on the database at ``url``."""
    makers: dict[str, Callable[[str, Sequence[Row], int], Peer]] = {
        "langchain PGVector": _LangchainPGVector,
        "langchain PGVectorStore": _LangchainPGVectorStore,
        "llama-index PGVectorStore": _LlamaIndex,
    }
    return makers[name](url, rows, dims)


class _LangchainPGVector:
    name = "langchain PGVector"
    note = "langchain-postgres PGVector (JSONB, a collection per workspace, no vector index: exact scan)"
    indexed = False

    def __init__(self, url: str, rows: Sequence[Row], dims: int) -> None:
        from langchain_postgres import PGVector
        from sqlalchemy import create_engine

        self.engine = create_engine(sqlalchemy_url(url))
        embeddings = _embeddings(rows)
        self.stores: dict[str, Any] = {}
        self.keys: dict[str, Key] = {}
        for workspace in sorted({r[0] for r in rows}):
            self.stores[workspace] = PGVector(embeddings=embeddings, connection=self.engine,
                                              embedding_length=dims, collection_name=workspace,
                                              use_jsonb=True, create_extension=False)
        for batch in _batches(rows):
            by_ws: dict[str, list[Row]] = {}
            for r in batch:
                by_ws.setdefault(r[0], []).append(r)
            for workspace, part in by_ws.items():
                ids = [_id(r[0], r[1], r[2]) for r in part]
                self.keys.update({i: (r[1], r[2]) for i, r in zip(ids, part, strict=True)})
                self.stores[workspace].add_embeddings(
                    texts=[r[4] for r in part], embeddings=[r[5].tolist() for r in part],
                    metadatas=[{"content_id": r[1], "chunk_index": r[2], "content_type": r[3]} for r in part],
                    ids=ids)
        _analyze(url, "langchain_pg_embedding")

    def search(self, workspace: str, q: np.ndarray, k: int, content_type: str | None) -> list[Key]:
        flt = None if content_type is None else {"content_type": {"$eq": content_type}}
        docs = self.stores[workspace].similarity_search_by_vector(q.tolist(), k=k, filter=flt)
        return [self.keys[str(d.id)] for d in docs]

    def at_ef(self, ef: int) -> Peer | None:
        return None  # no vector index: an exact scan whatever ef_search says

    def hybrid(self) -> dict[str, HybridSearch]:
        return {}

    def close(self) -> None:
        self.engine.dispose()


class _LangchainPGVectorStore:
    name = "langchain PGVectorStore"
    note = ("langchain-postgres PGVectorStore (v2: metadata columns, HNSWIndex() applied after the "
            "load, pgvector's default ef_search 40; made for hybrid search as its documentation "
            "advises: a tsvector column filled at insert and a GIN index)")
    indexed = True
    TABLE = "lc_vectorstore"

    def __init__(self, url: str, rows: Sequence[Row], dims: int) -> None:
        from langchain_postgres import Column, PGEngine
        from langchain_postgres.v2.hybrid_search_config import HybridSearchConfig
        from langchain_postgres.v2.indexes import HNSWIndex

        self.engine = PGEngine.from_connection_string(sqlalchemy_url(url))
        columns = [Column("workspace", "TEXT"), Column("content_id", "TEXT"),
                   Column("chunk_index", "INTEGER"), Column("content_type", "TEXT")]
        self.engine.init_vectorstore_table(
            self.TABLE, dims, metadata_columns=columns,
            id_column=Column("langchain_id", "UUID", nullable=False), overwrite_existing=True,
            hybrid_search_config=HybridSearchConfig())  # adds content_tsv
        self.embeddings = _embeddings(rows)
        # the loader fills content_tsv (a store made with a HybridSearchConfig); the search
        # stores have none: with one, every vector search would keep its primary_top_k rows
        loader = self._store(hybrid=HybridSearchConfig(tsv_column="content_tsv"))
        self.store = self._store()
        self.keys: dict[str, Key] = {}
        for batch in _batches(rows):
            ids = [_id(r[0], r[1], r[2]) for r in batch]
            self.keys.update({i: (r[1], r[2]) for i, r in zip(ids, batch, strict=True)})
            loader.add_embeddings(
                texts=[r[4] for r in batch], embeddings=[r[5].tolist() for r in batch],
                metadatas=[{"workspace": r[0], "content_id": r[1], "chunk_index": r[2],
                            "content_type": r[3]} for r in batch], ids=ids)
        loader.apply_vector_index(HNSWIndex())
        loader.apply_hybrid_search_index()
        _analyze(url, self.TABLE)

    def _store(self, ef: int | None = None, hybrid: Any = None) -> Any:
        """A store over the table, at ``hnsw.ef_search = ef`` (its ``index_query_options``, set
        per query) or at the server's default; ``hybrid``: its HybridSearchConfig."""
        from langchain_postgres import PGVectorStore
        from langchain_postgres.v2.indexes import HNSWQueryOptions

        options = None if ef is None else HNSWQueryOptions(ef_search=ef)
        return PGVectorStore.create_sync(
            self.engine, self.embeddings, self.TABLE,
            metadata_columns=["workspace", "content_id", "chunk_index", "content_type"],
            index_query_options=options, hybrid_search_config=hybrid)

    def search(self, workspace: str, q: np.ndarray, k: int, content_type: str | None) -> list[Key]:
        return self._search(self.store, workspace, q, k, content_type)

    def _search(self, store: Any, workspace: str, q: np.ndarray, k: int,
                content_type: str | None) -> list[Key]:
        flt: dict[str, Any] = {"workspace": {"$eq": workspace}}
        if content_type is not None:
            flt = {"$and": [flt, {"content_type": {"$eq": content_type}}]}
        docs = store.similarity_search_by_vector(q.tolist(), k=k, filter=flt)
        return [self.keys[str(d.id)] for d in docs]

    def at_ef(self, ef: int) -> Peer | None:
        store = self._store(ef)
        return _Tuned(self, ef, lambda w, q, k, t: self._search(store, w, q, k, t))

    def hybrid(self) -> dict[str, HybridSearch]:
        """Its hybrid search (a vector query and a ts_rank_cd query on content_tsv, fused in
        Python), each leg taking :data:`CANDIDATES` rows as aura-db's do: with its default
        fusion (weighted sum of min-max normalised scores) and with reciprocal rank fusion
        (rrf_k 60, aura-db's)."""
        from langchain_postgres.v2.hybrid_search_config import (
            HybridSearchConfig,
            reciprocal_rank_fusion,
            weighted_sum_ranking,
        )

        def op(fusion: Any, params: dict[str, Any]) -> HybridSearch:
            def run(workspace: str, text: str, q: np.ndarray, k: int) -> list[Key]:
                # a config per query: the library writes the query and fetch_top_k into it
                config = HybridSearchConfig(tsv_column="content_tsv", fts_query=text,
                                            fusion_function=fusion, fusion_function_parameters=dict(params),
                                            primary_top_k=CANDIDATES, secondary_top_k=CANDIDATES)
                docs = self.store.similarity_search_by_vector(
                    q.tolist(), k=k, filter={"workspace": {"$eq": workspace}}, hybrid_search_config=config)
                return [self.keys[str(d.id)] for d in docs]
            return run

        return {f"{self.name} hybrid (weighted sum, its default)": op(weighted_sum_ranking, {}),
                f"{self.name} hybrid (RRF k 60)": op(reciprocal_rank_fusion, {"rrf_k": 60})}

    def close(self) -> None:
        self.engine._run_as_sync(self.engine.close())


class _LlamaIndex:
    name = "llama-index PGVectorStore"
    note = ("llama-index PGVectorStore (JSON metadata filters; HNSW index from its documented "
            "hnsw_kwargs, built after the load: m 16, ef_construction 64, ef_search 40)")
    indexed = True
    TABLE = "chunks"  # the library prefixes data_
    HNSW = {"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": 40,
            "hnsw_dist_method": "vector_cosine_ops"}

    def __init__(self, url: str, rows: Sequence[Row], dims: int) -> None:
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.postgres import PGVectorStore

        # psycopg2: its sync queries send `SET hnsw.ef_search = :n` with a bound parameter, which
        # only a client-side binding driver accepts (psycopg 3 binds server-side: a syntax error)
        target, atarget = sqlalchemy_url(url, "psycopg2"), sqlalchemy_url(url, "psycopg")
        loader = PGVectorStore.from_params(connection_string=target, async_connection_string=atarget,
                                           table_name=self.TABLE, embed_dim=dims)
        self.keys: dict[str, Key] = {}
        for batch in _batches(rows):
            nodes = []
            for r in batch:
                node_id = _id(r[0], r[1], r[2])
                self.keys[node_id] = (r[1], r[2])
                nodes.append(TextNode(id_=node_id, text=r[4], embedding=r[5].tolist(),
                                      metadata={"workspace": r[0], "content_id": r[1], "chunk_index": r[2],
                                                "content_type": r[3]}))
            loader.add(nodes)
        asyncio.run(loader.close())
        self.store = PGVectorStore.from_params(connection_string=target, async_connection_string=atarget,
                                               table_name=self.TABLE, embed_dim=dims,
                                               hnsw_kwargs=dict(self.HNSW))
        self.store.add([])  # its first call sets the store up: creates the HNSW index, after the load
        _analyze(url, f"data_{self.TABLE}")

    def search(self, workspace: str, q: np.ndarray, k: int, content_type: str | None,
               ef: int | None = None) -> list[Key]:
        from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery

        filters = [MetadataFilter(key="workspace", value=workspace)]
        if content_type is not None:
            filters.append(MetadataFilter(key="content_type", value=content_type))
        # hnsw_ef_search: the query option its documentation gives (SET hnsw.ef_search per query)
        options = {} if ef is None else {"hnsw_ef_search": ef}
        result = self.store.query(VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=k,
                                                   filters=MetadataFilters(filters=filters)), **options)
        return [self.keys[i] for i in result.ids or []]

    def at_ef(self, ef: int) -> Peer | None:
        return _Tuned(self, ef, lambda w, q, k, t: self.search(w, q, k, t, ef))

    def hybrid(self) -> dict[str, HybridSearch]:
        return {}  # its hybrid mode needs a table made for it (hybrid_search=True): not measured

    def close(self) -> None:
        asyncio.run(self.store.close())
