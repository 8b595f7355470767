#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// A user's message search text, read once into words and phrases, and written out as the
// full-text query of each backend: SQLite FTS5 MATCH and PostgreSQL to_tsquery. Nothing the user
// types becomes an operator: every word leaves quoted, so `NEAR`, `OR`, `-x`, `col:x` or a stray
// quote are only ever text, and no input makes the database report a syntax error. The index
// tokenizers do the rest (case, accents): FTS5 `unicode61 remove_diacritics 2`, PostgreSQL a
// configuration with `unaccent` and `simple`.
//
// Snippets travel the other way: the store asks snippet()/ts_headline() to wrap hits in
// kMarkOpen/kMarkClose, and render_snippet turns that into HTML-escaped text with <mark> tags.
namespace chatd::store {

// What one query may hold; anything beyond is ignored, so a pasted novel costs a bounded query.
inline constexpr std::size_t kMaxSearchTerms = 32;
inline constexpr std::size_t kMaxSearchWords = 64;  // in all terms together
inline constexpr std::size_t kMaxSearchWordBytes = 64;

// A word (words.size() == 1), possibly a prefix, or a phrase (several words in this order).
// Words are as the user typed them, never empty, valid UTF-8, made of ASCII letters and digits
// and non-ASCII characters only.
struct SearchTerm {
  std::vector<std::string> words;
  // The user wrote `word*`, or the word was longer than kMaxSearchWordBytes and was cut: a prefix
  // still finds what they typed. Only ever set on a single word.
  bool prefix = false;

  bool operator==(const SearchTerm&) const = default;
};

// Terms that must all match (AND).
struct SearchQuery {
  std::vector<SearchTerm> terms;

  // No word at all: the caller answers 400 "q must contain a word" and runs no query.
  bool empty() const { return terms.empty(); }
};

// Words are runs of ASCII letters and digits and non-ASCII characters; ASCII punctuation and
// symbols, control characters, white space (Unicode's too) and invalid UTF-8 bytes separate them.
// `"` opens a phrase that runs to the next `"` or the end; `*` right after a word outside a
// phrase makes it a prefix. A phrase of one word is a plain word; an empty one is nothing.
SearchQuery parse_search(std::string_view text);

// FTS5 MATCH syntax: each word an FTS5 string, a prefix `"word" *`, a phrase one string
// `"w1 w2"` (FTS5 reads a string of several tokens as a phrase), terms joined by spaces (AND).
// Empty for an empty query, which FTS5 would refuse: check empty() first.
std::string to_fts5_match(const SearchQuery& query);

// to_tsquery input: each word a quoted lexeme `'word'`, a prefix `'word':*`, a phrase one quoted
// lexeme `'w1 w2'` (to_tsquery parses it like the document and chains its words with <->), terms
// joined by ` & `. Empty for an empty query: check empty() first.
std::string to_tsquery(const SearchQuery& query);

// The hit markers the store passes to snippet() and ts_headline() (StartSel/StopSel).
inline constexpr std::string_view kMarkOpen = "\x02";
inline constexpr std::string_view kMarkClose = "\x03";

// `text` with every marker byte replaced by a space (a separator to both tokenizers, so matching
// is unchanged). Message content may hold control characters, so the store feeds snippet() and
// ts_headline() this, never the raw content: only their own markers then reach render_snippet.
// In SQL: replace(replace(x, char(2), ' '), char(3), ' ') / translate(x, chr(2) || chr(3), '  ').
std::string without_marks(std::string_view text);

// The `snippet` of a search result: `marked` HTML-escaped (& < > " '), markers turned into
// <mark></mark>. Tags always balance: a mark left open is closed at the end, a stray close is
// dropped, an open inside a mark is ignored, an empty mark is left out. Invalid UTF-8 bytes and
// control characters other than tab, LF and CR become U+FFFD, so the output is valid UTF-8.
std::string render_snippet(std::string_view marked);

}  // namespace chatd::store
