// Argos Translate packages and the one entry point that opens any model path (locate_model).
#include "vkformer/model/package.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>

#include <fmt/format.h>
#include <minizip/unzip.h>
#include <nlohmann/json.hpp>

#include "vkformer/error.hpp"
#include "vkformer/model/ctranslate2.hpp"
#include "vkformer/model/model_file.hpp"

namespace vkformer {

namespace fs = std::filesystem;

namespace {

// Far above any real package (the largest Argos packages hold a few hundred MB in a few hundred files).
constexpr uint64_t kMaxEntries = 100000;
constexpr uint64_t kMaxUnpackedBytes = uint64_t(16) << 30;

bool present(const fs::path& path) {
  std::error_code error;
  return fs::exists(fs::symlink_status(path, error));
}

bool directory_at(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(fs::status(path, error));
}

// --- metadata.json -----------------------------------------------------------------------------------------

class Metadata {
 public:
  explicit Metadata(const JsonText& file) : json_(parse_json_object(file.text, file.path)), path_(file.path) {}

  // argostranslate reads every field with a default: a missing or null field is the default.
  std::string text(const char* key, bool required = false) const {
    const auto found = json_.find(key);
    if (found == json_.end() || found->is_null()) {
      if (required) throw Error(fmt::format("'{}': {} is missing", path_.string(), key));
      return {};
    }
    if (!found->is_string()) {
      throw Error(fmt::format("'{}': {} is {}; it must be a string", path_.string(), key, brief(*found)));
    }
    auto value = found->get<std::string>();
    if (required && value.empty()) throw Error(fmt::format("'{}': {} is empty", path_.string(), key));
    return value;
  }

 private:
  nlohmann::json json_;
  fs::path path_;
};

// --- zip archives ------------------------------------------------------------------------------------------

struct ZipEntry {
  std::string name;
  bool directory = false;
  uint64_t size = 0;  // uncompressed, as the central directory says
};

class Zip {
 public:
  explicit Zip(const fs::path& archive) : archive_(archive) {
    // unzOpen64 fopen()s the path: a FIFO would block, a directory would fail obscurely.
    ::close(open_model_file(archive));
    handle_ = unzOpen64(archive.c_str());
    if (!handle_) {
      throw Error(fmt::format("'{}' is not a zip archive, or it is truncated (no zip central directory at its end)",
                              archive.string()));
    }
  }
  ~Zip() { unzClose(handle_); }
  Zip(const Zip&) = delete;
  Zip& operator=(const Zip&) = delete;

  // Every entry, checked, in archive order; `hash` gets a digest of names, sizes and CRCs.
  std::vector<ZipEntry> list(uint64_t& hash) {
    unz_global_info64 global{};
    if (unzGetGlobalInfo64(handle_, &global) != UNZ_OK) fail("its zip directory cannot be read");
    if (global.number_entry > kMaxEntries) {
      fail(fmt::format("{} entries; more than {} is not a package", global.number_entry, kMaxEntries));
    }
    std::vector<ZipEntry> entries;
    std::set<std::string> names;
    uint64_t total = 0;
    hash = 0xcbf29ce484222325;  // FNV-1a
    const auto mix = [&](const void* data, size_t size) {
      for (size_t i = 0; i < size; ++i) hash = (hash ^ static_cast<const uint8_t*>(data)[i]) * 0x100000001b3;
    };
    for (int status = unzGoToFirstFile(handle_); status != UNZ_END_OF_LIST_OF_FILE; status = unzGoToNextFile(handle_)) {
      if (status != UNZ_OK) fail(fmt::format("its zip directory is damaged after entry {}", entries.size()));
      unz_file_info64 info{};
      char name[1024];
      if (unzGetCurrentFileInfo64(handle_, &info, name, sizeof(name), nullptr, 0, nullptr, 0) != UNZ_OK) {
        fail(fmt::format("entry {} cannot be read", entries.size()));
      }
      if (info.size_filename >= sizeof(name)) {
        fail(fmt::format("entry {} has a name of {} bytes", entries.size(), info.size_filename));
      }
      ZipEntry entry{.name = std::string(name, info.size_filename), .size = info.uncompressed_size};
      check_name(entry);
      check_kind(entry, info);
      if (!names.insert(entry.name).second) fail(fmt::format("entry {} appears twice", brief(entry.name)));
      total += entry.size;
      if (entry.size > kMaxUnpackedBytes || total > kMaxUnpackedBytes) {
        fail(fmt::format("entry {} brings the unpacked size to {} bytes; more than {} is not a package",
                         brief(entry.name), total, kMaxUnpackedBytes));
      }
      mix(entry.name.data(), entry.name.size() + 1);
      const uint64_t fields[] = {info.crc, info.uncompressed_size, info.compressed_size};
      mix(fields, sizeof(fields));
      entries.push_back(std::move(entry));
    }
    return entries;
  }

  // Writes every file into `root` (an empty directory), checking each against its declared size and CRC.
  void extract(const std::vector<ZipEntry>& entries, const fs::path& root) {
    std::vector<char> buffer(1 << 16);
    size_t index = 0;
    for (int status = unzGoToFirstFile(handle_); status != UNZ_END_OF_LIST_OF_FILE;
         status = unzGoToNextFile(handle_), ++index) {
      if (status != UNZ_OK || index >= entries.size()) fail("its zip directory changed while it was unpacked");
      const auto& entry = entries[index];
      const auto path = root / entry.name;
      std::error_code error;
      fs::create_directories(entry.directory ? path : path.parent_path(), error);
      if (error) fail(fmt::format("entry {}: cannot create its directory: {}", brief(entry.name), error.message()));
      if (entry.directory) continue;
      if (unzOpenCurrentFile(handle_) != UNZ_OK) fail(fmt::format("entry {} cannot be opened", brief(entry.name)));
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) {
        unzCloseCurrentFile(handle_);
        fail(fmt::format("entry {}: cannot create '{}': {}", brief(entry.name), path.string(), std::strerror(errno)));
      }
      uint64_t written = 0;
      std::string problem;
      for (;;) {
        const int got = unzReadCurrentFile(handle_, buffer.data(), unsigned(buffer.size()));
        if (got < 0) {
          problem = fmt::format("its data is damaged (zip error {})", got);
          break;
        }
        if (got == 0) break;
        written += uint64_t(got);
        // The central directory's size is what the limits checked; the data must not exceed it.
        if (written > entry.size) {
          problem = fmt::format("it holds more than the {} bytes its header says", entry.size);
          break;
        }
        if (!write_all(fd, buffer.data(), size_t(got))) {
          problem = fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno));
          break;
        }
      }
      const int closed = unzCloseCurrentFile(handle_);
      if (::close(fd) != 0 && problem.empty()) {
        problem = fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno));
      }
      if (problem.empty() && written != entry.size) {
        problem = fmt::format("it holds {} bytes, not the {} its header says", written, entry.size);
      }
      if (problem.empty() && closed == UNZ_CRCERROR) problem = "its CRC does not match its data";
      if (problem.empty() && closed != UNZ_OK) {
        problem = fmt::format("it cannot be read to its end (zip error {})", closed);
      }
      if (!problem.empty()) fail(fmt::format("entry {}: {}", brief(entry.name), problem));
    }
    if (index != entries.size()) fail("its zip directory changed while it was unpacked");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("Argos package '{}': {}", archive_.string(), what));
  }

  // Only relative paths of plain components stay inside the directory they are unpacked into.
  void check_name(ZipEntry& entry) const {
    std::string name = entry.name;
    const auto refuse = [&](const char* why) { fail(fmt::format("entry {} {}; refused", brief(name), why)); };
    if (name.empty()) refuse("has an empty name");
    if (name.find('\0') != std::string::npos) refuse("has a NUL byte in its name");
    if (!valid_utf8(name)) refuse("has a name that is not UTF-8");
    if (name.find('\\') != std::string::npos) refuse("has a backslash in its name");
    if (name.front() == '/') refuse("is an absolute path");
    entry.directory = name.back() == '/';
    if (entry.directory) name.pop_back();
    for (size_t begin = 0; begin <= name.size();) {
      const size_t end = std::min(name.find('/', begin), name.size());
      const std::string_view part(name.data() + begin, end - begin);
      if (part.empty() || part == ".") refuse("has an empty or '.' path component");
      if (part == "..") refuse("leaves the package directory ('..')");
      begin = end + 1;
    }
    entry.name = name;
  }

  // Made on Unix, the upper 16 bits of the external attributes hold the st_mode: only files and directories.
  void check_kind(const ZipEntry& entry, const unz_file_info64& info) const {
    if (info.flag & 1) fail(fmt::format("entry {} is encrypted", brief(entry.name)));
    if (info.compression_method != 0 && info.compression_method != Z_DEFLATED) {
      fail(fmt::format("entry {} uses compression method {} (only stored and deflate are read)", brief(entry.name),
                       info.compression_method));
    }
    constexpr unsigned kUnix = 3;
    const auto mode = static_cast<mode_t>((info.external_fa >> 16) & 0xffff);
    if ((info.version >> 8) != kUnix || (mode & S_IFMT) == 0) return;
    if (S_ISLNK(mode)) fail(fmt::format("entry {} is a symbolic link; refused", brief(entry.name)));
    if (!S_ISREG(mode) && !S_ISDIR(mode)) fail(fmt::format("entry {} is a special file; refused", brief(entry.name)));
    if (S_ISDIR(mode) != entry.directory) {
      fail(fmt::format("entry {} is a {} by its attributes but not by its name", brief(entry.name),
                       S_ISDIR(mode) ? "directory" : "file"));
    }
  }

  static bool write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
      const ssize_t done = ::write(fd, data, size);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) return false;
      data += done;
      size -= size_t(done);
    }
    return true;
  }

  fs::path archive_;
  unzFile handle_ = nullptr;
};

// Removes a temporary directory unless it was renamed into place.
struct TemporaryDirectory {
  fs::path path;
  ~TemporaryDirectory() {
    std::error_code error;
    if (!path.empty()) fs::remove_all(path, error);
  }
};

void unpack_entries(Zip& zip, const std::vector<ZipEntry>& entries, const fs::path& archive,
                    const fs::path& destination) {
  std::error_code error;
  fs::create_directories(destination.parent_path(), error);
  if (error) {
    throw Error(
        fmt::format("cannot create the package cache '{}': {}", destination.parent_path().string(), error.message()));
  }
  std::random_device random;
  TemporaryDirectory temporary{destination.parent_path() /
                               fmt::format(".{}.{}-{:08x}.tmp", destination.filename().string(), ::getpid(), random())};
  if (::mkdir(temporary.path.c_str(), 0755) != 0) {
    const int code = errno;
    temporary.path.clear();
    throw Error(fmt::format("cannot unpack '{}': cannot create '{}': {}", archive.string(),
                            destination.parent_path().string(), std::strerror(code)));
  }
  zip.extract(entries, temporary.path);
  fs::rename(temporary.path, destination, error);
  if (!error) {
    temporary.path.clear();
    return;
  }
  // Another process finished the same package first: its copy is as good as this one.
  if (!directory_at(destination)) {
    throw Error(
        fmt::format("cannot unpack '{}' into '{}': {}", archive.string(), destination.string(), error.message()));
  }
}

// The part of a file name that is safe and short as a directory name.
std::string cache_name(const std::string& stem) {
  std::string name;
  for (char c : stem.substr(0, 80)) {
    name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  }
  return name.empty() || name.front() == '.' ? "package" + name : name;
}

// An unpacked package's root: metadata.json at the top, or in its one top-level directory (as argos-train
// zips "translate-en_de-1_0/...").
fs::path package_root(const fs::path& unpacked, const fs::path& archive) {
  if (present(unpacked / "metadata.json")) return unpacked;
  std::vector<fs::path> children;
  std::error_code error;
  for (const auto& child : fs::directory_iterator(unpacked, error)) children.push_back(child.path());
  if (children.size() == 1 && directory_at(children[0]) && present(children[0] / "metadata.json")) return children[0];
  throw Error(fmt::format("Argos package '{}' has no metadata.json (at its top or in its one top-level directory)",
                          archive.string()));
}

// --- locating a model --------------------------------------------------------------------------------------

ArgosPackage open_package(const fs::path& root, const fs::path& archive) {
  const auto metadata_path = root / "metadata.json";
  auto package = parse_argos_metadata({metadata_path, read_model_file(metadata_path)});
  package.directory = root;
  package.archive = archive;
  const auto& named = archive.empty() ? root : archive;
  if (!directory_at(root / "model")) {
    throw Error(fmt::format("Argos package '{}' has no model/ directory (the CTranslate2 model)", named.string()));
  }
  if (!present(root / "sentencepiece.model")) {
    throw Error(fmt::format("Argos package '{}' has no sentencepiece.model{}", named.string(),
                            present(root / "bpe.model") ? " (BPE packages, bpe.model, are not supported)" : ""));
  }
  // argostranslate prefers MiniSBD, then Stanza, then spaCy.
  for (const char* splitter : {"minisbd", "stanza", "spacy"}) {
    if (directory_at(root / splitter)) {
      package.sentence_splitter = splitter;
      break;
    }
  }
  package.has_readme = present(root / "README.md");
  return package;
}

}  // namespace

ArgosPackage parse_argos_metadata(const JsonText& file) {
  const Metadata metadata(file);
  ArgosPackage package;
  package.type = metadata.text("type");
  if (package.type.empty()) package.type = "translate";
  if (package.type != "translate") {
    throw Error(fmt::format("'{}': type is {}; only \"translate\" packages translate", file.path.string(),
                            brief(package.type)));
  }
  package.from_code = metadata.text("from_code", true);
  package.to_code = metadata.text("to_code", true);
  package.from_name = metadata.text("from_name");
  package.to_name = metadata.text("to_name");
  package.package_version = metadata.text("package_version");
  package.argos_version = metadata.text("argos_version");
  package.target_prefix = metadata.text("target_prefix");
  return package;
}

fs::path package_cache_directory() {
  if (const char* dir = std::getenv("VKFORMER_CACHE_DIR"); dir && *dir) return fs::path(dir) / "packages";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "vkformer/packages";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache/vkformer/packages";
  throw Error("no directory to unpack Argos packages into: set VKFORMER_CACHE_DIR, XDG_CACHE_HOME or HOME");
}

void unpack_zip(const fs::path& archive, const fs::path& destination) {
  Zip zip(archive);
  uint64_t hash = 0;
  const auto entries = zip.list(hash);
  unpack_entries(zip, entries, archive, destination);
}

fs::path unpacked_package(const fs::path& archive) {
  Zip zip(archive);
  uint64_t hash = 0;
  const auto entries = zip.list(hash);
  std::error_code error;
  const auto size = fs::file_size(archive, error);
  const auto destination =
      package_cache_directory() / fmt::format("{}-{}-{:016x}", cache_name(archive.stem().string()), size, hash);
  if (!directory_at(destination)) unpack_entries(zip, entries, archive, destination);
  return package_root(destination, archive);
}

ModelLocation locate_model(const fs::path& given, bool force_tokenized) {
  ModelLocation location{.given = given, .model_directory = given};
  std::error_code error;
  const auto status = fs::status(given, error);
  if (!fs::exists(status)) throw Error(fmt::format("model '{}' does not exist", given.string()));
  if (!fs::is_directory(status)) {
    const auto root = unpacked_package(given);
    location.package = open_package(root, given);
  } else if (present(given / "metadata.json")) {
    location.package = open_package(given, {});
  }
  if (location.package) {
    location.model_directory = location.package->directory / "model";
    location.decoding = ArgosDecoding{};
  }
  const auto& directory = location.model_directory;
  if (!is_ctranslate2_model(directory)) {
    if (location.package) {
      throw Error(fmt::format("'{}': the Argos package's model/ holds no model.bin", directory.string()));
    }
    location.model = open_marian_model(directory);
    location.tokenizer = std::make_unique<Tokenizer>(directory, force_tokenized);
    return location;
  }
  location.format = ModelFormat::ctranslate2;
  location.model = open_ctranslate2_model(directory);
  TokenizerSetup setup;
  if (force_tokenized) {
    setup.kind = TokenizerKind::tokens;
  } else if (location.package) {
    setup = {.kind = TokenizerKind::sentencepiece, .source_spm = location.package->directory / "sentencepiece.model"};
  } else if (present(directory / "source.spm") && present(directory / "target.spm")) {
    setup = {
        .kind = TokenizerKind::marian, .source_spm = directory / "source.spm", .target_spm = directory / "target.spm"};
  } else if (present(directory / "sentencepiece.model")) {
    setup = {.kind = TokenizerKind::sentencepiece, .source_spm = directory / "sentencepiece.model"};
  }
  if (setup.kind == TokenizerKind::sentencepiece) setup.target_spm = setup.source_spm;
  if (location.package && !location.package->target_prefix.empty()) {
    setup.target_prefix = {location.package->target_prefix};
    setup.prefix_origin = (location.package->directory / "metadata.json").string();
  }
  setup.vocabulary_origin = directory.string();
  location.tokenizer =
      std::make_unique<Tokenizer>(read_ctranslate2_vocabularies(directory), location.model->config(), setup);
  return location;
}

}  // namespace vkformer
