// Loads an SDF world with the real libsdformat and prints what it found; exit 1 on any error.
// Built by tests/test_sim_gazebo.py with g++ against Debian's libsdformat-dev.
#include <iostream>
#include <sdf/sdf.hh>

int main(int argc, char **argv) {
  if (argc != 2) { std::cerr << "usage: check_world FILE.sdf\n"; return 2; }
  sdf::Root root;
  sdf::Errors errors = root.Load(argv[1]);
  for (const auto &e : errors) std::cerr << "error: " << e << "\n";
  if (!errors.empty() || root.WorldCount() != 1) return 1;
  const sdf::World *world = root.WorldByIndex(0);
  std::cout << "world " << world->Name() << "\n";
  if (world->SphericalCoordinates())
    std::cout << "latitude_deg " << world->SphericalCoordinates()->LatitudeReference().Degree() << "\n";
  for (uint64_t l = 0; l < world->LightCount(); ++l)
    std::cout << "light " << world->LightByIndex(l)->Name() << "\n";
  for (uint64_t m = 0; m < world->ModelCount(); ++m) {
    const sdf::Model *model = world->ModelByIndex(m);
    std::cout << "model " << model->Name() << (model->Static() ? " static" : "") << "\n";
    for (uint64_t k = 0; k < model->LinkCount(); ++k) {
      const sdf::Link *link = model->LinkByIndex(k);
      for (uint64_t s = 0; s < link->SensorCount(); ++s) {
        const sdf::Sensor *sensor = link->SensorByIndex(s);
        std::cout << "sensor " << model->Name() << " " << sensor->Name() << " " << sensor->TypeStr()
                  << " " << sensor->Topic() << "\n";
      }
    }
  }
  return 0;
}
