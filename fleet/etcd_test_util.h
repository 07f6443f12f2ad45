// For the fleet's tests and bench: real etcd members started on loopback in a
// temp dir, on ports the kernel picked free, stopped (SIGTERM, then SIGKILL)
// and removed by the destructor, even when a test fails.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "fleet/etcd_client.h"

namespace pathsteer::fleet::testing {

inline const char* kEtcdBinary = "/usr/bin/etcd";

// A port free at the moment of asking (the member binds it right after).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

class EtcdCluster {
 public:
  // `members` members named m0..; their data under `dir`. With `cert` and `key`
  // (PEM files) the client URLs are https, and wait_ready() trusts `cert`.
  EtcdCluster(const std::string& dir, int members, std::string cert = "", std::string key = "")
      : dir_(dir), cert_(std::move(cert)), key_(std::move(key)) {
    std::filesystem::create_directories(dir_);
    std::string initial;
    for (int i = 0; i < members; ++i) {
      Member m{.name = "m" + std::to_string(i),
               .client = (cert_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
                         std::to_string(free_port()),
               .peer = "http://127.0.0.1:" + std::to_string(free_port())};
      initial += (initial.empty() ? "" : ",") + m.name + "=" + m.peer;
      members_.push_back(m);
    }
    initial_ = initial;
    for (size_t i = 0; i < members_.size(); ++i)
      start(i);
  }
  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i)
      stop(i);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& m : members_)
      out.push_back(m.client);
    return out;
  }
  const std::string& endpoint(size_t i) const { return members_[i].client; }
  pid_t pid(size_t i) const { return members_[i].pid; }

  void start(size_t i) {
    Member& m = members_[i];
    if (m.pid > 0)
      return;
    std::string data = dir_ + "/" + m.name;
    std::string log = dir_ + "/" + m.name + ".log";
    std::fflush(nullptr);  // the child must not write our buffered output again
    pid_t pid = ::fork();
    if (pid == 0) {
      FILE* f = std::freopen(log.c_str(), "a", stdout);
      (void)f;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      std::string state = std::filesystem::exists(data) ? "existing" : "new";
      std::vector<std::string> args = {kEtcdBinary, "--name",
                                       m.name,      "--data-dir",
                                       data,        "--listen-client-urls",
                                       m.client,    "--advertise-client-urls",
                                       m.client,    "--listen-peer-urls",
                                       m.peer,      "--initial-advertise-peer-urls",
                                       m.peer,      "--initial-cluster",
                                       initial_,    "--initial-cluster-state",
                                       state,       "--initial-cluster-token",
                                       "ps-test",   "--log-level",
                                       "warn"};
      if (!cert_.empty())
        args.insert(args.end(), {"--cert-file", cert_, "--key-file", key_});
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kEtcdBinary, argv.data());
      ::_exit(127);
    }
    m.pid = pid;
  }
  void stop(size_t i, int sig = SIGTERM) {
    Member& m = members_[i];
    if (m.pid <= 0)
      return;
    ::kill(m.pid, sig);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(m.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(m.pid, SIGKILL);
        ::waitpid(m.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m.pid = 0;
  }

  // Waits until a put through every endpoint succeeds (a leader is elected).
  bool wait_ready(std::chrono::seconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto c = EtcdClient::create(EtcdClient::Options{
          .endpoints = endpoints(), .ca_file = cert_, .timeout = std::chrono::seconds(1)});
      if (c && (*c)->put("/ready", "1"))
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  struct Member {
    std::string name, client, peer;
    pid_t pid = 0;
  };
  std::string dir_;
  std::string cert_, key_;
  std::string initial_;
  std::vector<Member> members_;
};

}  // namespace pathsteer::fleet::testing
